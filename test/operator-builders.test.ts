import { describe, expect, it } from 'vitest';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Service } from 'kubernetes-models/v1/Service';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolume } from 'kubernetes-models/v1/PersistentVolume';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { buildMountsConfigMap, configHash } from '../operator/builders/mounts-configmap.js';
import { buildWorkerService } from '../operator/builders/worker-service.js';
import { buildWorkerStatefulSet } from '../operator/builders/worker-statefulset.js';
import { buildCsiCredentialsSecret, buildPersistentVolume, buildPersistentVolumeClaim, csiSecretName } from '../operator/builders/volume.js';
import { buildLoaderCronJob, buildLoaderJob, loaderArgs } from '../operator/builders/loader-job.js';
import { planTiers } from '../operator/builders/tiers.js';
import { validateMountTable } from '../lib/mounts.js';
import { describeUnready, podNotReadyReason, unreadyPods } from '../operator/controllers/worker-diagnosis.js';
import type { BuildContext } from '../operator/builders/context.js';
import { validateDataLoadSpec, validateDatasetSpec, validateRuntimeSpec } from '../operator/api/validate.js';
import { dataload, dataset, runtime } from './operator/fixtures.js';

const ctx: BuildContext = { image: 'hoard:test', clusterDomain: 'cluster.local' };

// kubernetes-models validates against the official OpenAPI schemas and throws on violations.
const validates = (model: { validate(): void }) => expect(() => model.validate()).not.toThrow();

describe('worker StatefulSet', () => {
  const ds = dataset();
  const rt = runtime();
  const cm = buildMountsConfigMap(ds);
  const sts = buildWorkerStatefulSet(ds, rt, ctx, configHash(cm));
  const pod = sts.spec!.template.spec!;
  const container = pod.containers[0];

  it('is a valid apps/v1 StatefulSet owned by the CacheRuntime', () => {
    validates(new StatefulSet(sts as never));
    expect(sts.metadata!.name).toBe('imagenet-worker');
    expect(sts.spec!.serviceName).toBe('imagenet-worker');
    expect(sts.spec!.replicas).toBe(3);
    expect(sts.metadata!.ownerReferences).toEqual([expect.objectContaining({ kind: 'CacheRuntime', name: 'imagenet', uid: 'uid-rt-imagenet', controller: true })]);
    expect(sts.spec!.selector.matchLabels).toEqual(expect.objectContaining({ 'app.kubernetes.io/instance': 'imagenet', 'app.kubernetes.io/component': 'worker' }));
    expect(sts.spec!.template.metadata!.labels).toEqual(expect.objectContaining(sts.spec!.selector.matchLabels));
  });

  it('runs hoard worker with the contract flags, ports and probes', () => {
    expect(container.image).toBe('hoard:test');
    expect(container.command).toEqual(['hoard']);
    const args = container.args!;
    expect(args.slice(0, 3)).toEqual(['worker', '--id', '$(POD_NAME)']);
    expect(args).toEqual(expect.arrayContaining(['--listen', '0.0.0.0:9400', '--http', '0.0.0.0:9401', '--mounts-file', '/etc/hoard/mounts.json']));
    // The MEM tier is page files on the pod's Memory emptyDir, named to the node's CSI plugin by
    // its path under the kubelet directory (the pod's uid comes from the downward API).
    expect(args.join(' ')).toContain(
      '--tier MEM:/cache/mem0:8192Mi --short-circuit-dir /var/lib/kubelet/pods/$(POD_UID)/volumes/kubernetes.io~empty-dir/cache-mem0 --tier SSD:/cache/ssd0/$(POD_NAMESPACE)_$(POD_NAME):204800Mi:0.95:0.8',
    );
    expect(sts.spec!.template.spec!.volumes).toEqual(expect.arrayContaining([{ name: 'cache-mem0', emptyDir: { medium: 'Memory', sizeLimit: '8192Mi' } }]));
    expect(container.volumeMounts).toEqual(expect.arrayContaining([{ name: 'cache-mem0', mountPath: '/cache/mem0' }]));
    expect(container.env!.find((e) => e.name === 'POD_UID')!.valueFrom!.fieldRef!.fieldPath).toBe('metadata.uid');
    expect(container.env!.find((e) => e.name === 'POD_NAME')!.valueFrom!.fieldRef!.fieldPath).toBe('metadata.name');
    expect(container.ports).toEqual([
      { name: 'grpc', containerPort: 9400, protocol: 'TCP' },
      { name: 'http', containerPort: 9401, protocol: 'TCP' },
    ]);
    expect(container.readinessProbe!.httpGet!.path).toBe('/readyz');
    expect(container.livenessProbe!.httpGet!.path).toBe('/healthz');
  });

  it('maps tiers to volumes: MEM -> tmpfs emptyDir, SSD with path -> hostPath per pod', () => {
    const mem = pod.volumes!.find((v) => v.name === 'cache-mem0')!;
    expect(mem.emptyDir).toEqual({ medium: 'Memory', sizeLimit: '8192Mi' });
    const ssd = pod.volumes!.find((v) => v.name === 'cache-ssd0')!;
    expect(ssd.hostPath).toEqual({ path: '/mnt/nvme/hoard', type: 'DirectoryOrCreate' });
    const ssdMount = container.volumeMounts!.find((m) => m.name === 'cache-ssd0')!;
    // The worker's own folder, so it can remove it on Purge (a kubelet-made subPath it could not).
    expect(ssdMount).toEqual({ name: 'cache-ssd0', mountPath: '/cache/ssd0' });
    expect(container.args).toEqual(expect.arrayContaining(['SSD:/cache/ssd0/$(POD_NAMESPACE)_$(POD_NAME):204800Mi:0.95:0.8']));
    expect(container.env!.map((e) => e.name)).toEqual(expect.arrayContaining(['POD_NAMESPACE', 'POD_NAME']));
  });

  it('adds the MEM quota to the memory request and limit', () => {
    expect(container.resources!.requests!.memory).toBe(`${256 + 8192}Mi`);
    expect(container.resources!.limits).toBeUndefined();
    const limited = buildWorkerStatefulSet(ds, runtime({ worker: { resources: { requests: { memory: '1Gi', cpu: '1' }, limits: { memory: '2Gi' } } } }), ctx, 'h');
    const res = limited.spec!.template.spec!.containers[0].resources!;
    expect(res.requests).toEqual({ cpu: '1', memory: `${1024 + 8192}Mi` });
    expect(res.limits).toEqual({ memory: `${2048 + 8192}Mi` });
  });

  it('SSD/HDD without a path become size-limited emptyDirs; tiers without MEM add no memory', () => {
    const plan = planTiers([{ medium: 'SSD', quota: '10Gi' }, { medium: 'HDD', quota: 1073741824, path: '/data', emptyDir: true }]);
    expect(plan.volumes).toEqual([
      { name: 'cache-ssd0', emptyDir: { sizeLimit: '10240Mi' } },
      { name: 'cache-hdd0', emptyDir: { sizeLimit: '1024Mi' } },
    ]);
    expect(plan.flags).toEqual(['--tier', 'SSD:/cache/ssd0:10240Mi', '--tier', 'HDD:/cache/hdd0:1024Mi']);
    expect(plan.memoryBytes).toBe(0);
  });

  it('MEM levels are RAM-disk tiers on Memory emptyDirs; only the first is named to the node, under the configured kubelet dir', () => {
    const plan = planTiers([{ medium: 'MEM', quota: '1Gi', high: '0.9', low: '0.7' }, { medium: 'MEM', quota: '512Mi' }], '/srv/kubelet/');
    expect(plan.flags).toEqual([
      '--tier', 'MEM:/cache/mem0:1024Mi:0.9:0.7',
      '--short-circuit-dir', '/srv/kubelet/pods/$(POD_UID)/volumes/kubernetes.io~empty-dir/cache-mem0',
      '--tier', 'MEM:/cache/mem1:512Mi',
    ]);
    expect(plan.volumes.map((v) => v.emptyDir?.medium)).toEqual(['Memory', 'Memory']);
    expect(plan.memoryBytes).toBe(1536 * 2 ** 20);
  });

  it('mounts credentials Secrets at /etc/hoard/credentials/<mount> and the mount table by subPath', () => {
    const cred = pod.volumes!.find((v) => v.secret)!;
    expect(cred.secret).toEqual({ secretName: 's3-creds', defaultMode: 0o400 });
    expect(container.volumeMounts).toEqual(expect.arrayContaining([
      { name: cred.name, mountPath: '/etc/hoard/credentials/train', readOnly: true },
      { name: 'mounts', mountPath: '/etc/hoard/mounts.json', subPath: 'mounts.json', readOnly: true },
    ]));
  });

  it('carries scheduling constraints and rolls pods when the mount table changes', () => {
    const ds2 = dataset({ tolerations: [{ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }], nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['cache'] }] }] } } });
    const sts2 = buildWorkerStatefulSet(ds2, runtime({ worker: { nodeSelector: { disk: 'nvme' }, image: 'custom:1' } }), ctx, 'h2');
    validates(new StatefulSet(sts2 as never));
    const spec = sts2.spec!.template.spec!;
    expect(spec.tolerations).toEqual([{ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(spec.nodeSelector).toEqual({ disk: 'nvme' });
    expect(spec.affinity!.nodeAffinity).toBeDefined();
    expect(spec.containers[0].image).toBe('custom:1');
    const changed = buildMountsConfigMap(dataset({ mounts: [{ name: 'other', uri: 'file:///x' }] }));
    expect(configHash(changed)).not.toBe(configHash(cm));
  });
});

describe('path data in a cluster (file://, nfs://, pvc://)', () => {
  const ds = dataset({
    mounts: [
      { name: 'train', uri: 's3://datasets/imagenet/train' },
      { name: 'host', uri: 'file:///srv/data/' },
      { name: 'exports', uri: 'nfs://nfs.example.com/exports/ml' },
      { name: 'claim', uri: 'pvc://team-data/imagenet/val' },
    ],
  });
  const sts = buildWorkerStatefulSet(ds, runtime(), ctx, 'h');
  const pod = sts.spec!.template.spec!;

  it('gives the workers each path as a read-only volume of its kind, mounted under /hoard/ufs', () => {
    validates(new StatefulSet(sts as never));
    const ufs = pod.volumes!.filter((v) => v.name.startsWith('ufs-'));
    expect(ufs).toEqual([
      { name: 'ufs-1', hostPath: { path: '/srv/data', type: 'Directory' } },
      { name: 'ufs-2', nfs: { server: 'nfs.example.com', path: '/exports/ml', readOnly: true } },
      { name: 'ufs-3', persistentVolumeClaim: { claimName: 'team-data', readOnly: true } },
    ]);
    expect(pod.containers[0].volumeMounts!.filter((m) => m.name.startsWith('ufs-'))).toEqual([
      { name: 'ufs-1', mountPath: '/hoard/ufs/host', readOnly: true },
      { name: 'ufs-2', mountPath: '/hoard/ufs/exports', readOnly: true },
      { name: 'ufs-3', mountPath: '/hoard/ufs/claim', readOnly: true },
    ]);
  });

  it('points the mount table at the in-pod path and describes the volume for the CSI side', () => {
    const table = JSON.parse(buildMountsConfigMap(ds).data!['mounts.json']);
    expect(table.mounts.map((m: { uri: string }) => m.uri)).toEqual(['s3://datasets/imagenet/train', 'file:///hoard/ufs/host', 'file:///hoard/ufs/exports', 'file:///hoard/ufs/claim/imagenet/val']);
    expect(table.mounts[0].volume).toBeUndefined();
    const csi = JSON.parse(buildPersistentVolume(ds, runtime(), ctx).spec!.csi!.volumeAttributes!.mounts);
    expect(csi.mounts[3]).toEqual({
      name: 'claim', uri: 'file:///hoard/ufs/claim/imagenet/val', readOnly: true,
      volume: { name: 'ufs-3', mountPath: '/hoard/ufs/claim', namespace: 'ml', source: { persistentVolumeClaim: { claimName: 'team-data', readOnly: true } } },
    });
    expect(validateMountTable(csi).mounts).toHaveLength(4);
  });

  it.each([
    ['file://host/x', /spec\.mounts\[0\]\.uri: "file:\/\/host\/x" must be file:\/\/\/abs\/path/],
    ['file:///', /names the node's root directory/],
    ['file:///srv/../etc', /"\." or "\.\." path segments/],
    ['pvc://Bad_Claim/x', /spec\.mounts\[0\]\.uri: .*pvc:\/\/claim-name/],
    ['nfs://bad host/x', /spec\.mounts\[0\]\.uri: .*nfs:\/\/server\/export\/path/],
  ])('rejects %s naming the field and the fix', (uri, msg) => {
    const problems = validateDatasetSpec(dataset({ mounts: [{ name: 'a', uri }] }).spec);
    expect(problems[0]?.field).toBe('spec.mounts[0].uri');
    expect(problems[0]?.message).toMatch(msg);
  });
});

describe('Service and ConfigMap', () => {
  it('builds a headless Service with grpc/http ports', () => {
    const svc = buildWorkerService(runtime());
    validates(new Service(svc as never));
    expect(svc.metadata!.name).toBe('imagenet-worker');
    expect(svc.spec!.clusterIP).toBe('None');
    expect(svc.spec!.ports!.map((p) => [p.name, p.port])).toEqual([['grpc', 9400], ['http', 9401]]);
  });

  it('writes mounts.json without secret values, pointing credentialsDir at the mounted Secret', () => {
    const cm = buildMountsConfigMap(dataset());
    validates(new ConfigMap(cm as never));
    expect(cm.metadata!.name).toBe('imagenet-mounts');
    const table = JSON.parse(cm.data!['mounts.json']);
    expect(table.mounts[0]).toEqual({ name: 'train', uri: 's3://datasets/imagenet/train', options: { endpoint: 'https://s3.example.com', region: 'us-east-1' }, credentialsDir: '/etc/hoard/credentials/train', readOnly: true });
    expect(table.mounts[1]).toEqual({
      name: 'labels', uri: 'file:///hoard/ufs/labels', readOnly: true,
      volume: { name: 'ufs-1', mountPath: '/hoard/ufs/labels', source: { hostPath: { path: '/mnt/nfs/labels', type: 'Directory' } } },
    });
    expect(cm.data!['mounts.json']).not.toMatch(/secretAccessKey|accessKeyId|s3-creds/);
  });
});

describe('PV and PVC', () => {
  const ds = dataset();
  const rt = runtime({ fuse: { kernelCache: true, attrTimeout: 5, entryTimeout: 7, directIO: false }, replication: 2 });

  it('builds a CSI PV with the contract volume attributes, bound to the PVC', () => {
    const pv = buildPersistentVolume(ds, rt, ctx);
    validates(new PersistentVolume(pv as never));
    expect(pv.metadata!.name).toBe('hoard-ml-imagenet');
    expect(pv.metadata!.ownerReferences).toBeUndefined();
    expect(pv.spec!.storageClassName).toBe('hoard');
    expect(pv.spec!.claimRef).toEqual(expect.objectContaining({ namespace: 'ml', name: 'imagenet', kind: 'PersistentVolumeClaim' }));
    expect(pv.spec!.accessModes).toEqual(['ReadOnlyMany']);
    const csi = pv.spec!.csi!;
    expect(csi.driver).toBe('csi.hoard.dev');
    expect(csi.volumeHandle).toBe('ml/imagenet');
    expect(csi.nodeStageSecretRef).toEqual({ name: 's3-creds', namespace: 'ml' });
    const attrs = csi.volumeAttributes!;
    expect(attrs).toEqual(expect.objectContaining({
      dataset: 'imagenet', namespace: 'ml', workers: 'srv:_grpc._tcp.imagenet-worker.ml.svc.cluster.local', readOnly: 'true',
      'fuse.kernelCache': 'true', 'fuse.attrTimeout': '5', 'fuse.entryTimeout': '7', 'fuse.directIO': 'false', replication: '2',
    }));
    const mounts = JSON.parse(attrs.mounts);
    expect(mounts.mounts.map((m: { name: string }) => m.name)).toEqual(['train', 'labels']);
    expect(attrs.mounts).not.toContain('credentialsDir');
    for (const v of Object.values(attrs)) expect(typeof v).toBe('string');
  });

  it('builds the PVC bound by volumeName, owned by the Dataset', () => {
    const pvc = buildPersistentVolumeClaim(ds);
    validates(new PersistentVolumeClaim(pvc as never));
    expect(pvc.metadata!.name).toBe('imagenet');
    expect(pvc.spec!.volumeName).toBe('hoard-ml-imagenet');
    expect(pvc.spec!.storageClassName).toBe('hoard');
    expect(pvc.metadata!.ownerReferences![0]).toEqual(expect.objectContaining({ kind: 'Dataset', uid: 'uid-ds-imagenet' }));
  });

  it('omits nodeStageSecretRef without credentials and merges several Secrets into one', () => {
    const plain = dataset({ mounts: [{ name: 'a', uri: 'file:///a' }] });
    expect(buildPersistentVolume(plain, rt, ctx).spec!.csi!.nodeStageSecretRef).toBeUndefined();
    expect(buildCsiCredentialsSecret(plain, new Map())).toBeUndefined();
    const two = dataset({
      mounts: [
        { name: 'a', uri: 's3://bucket-a/x', credentials: { secretRef: { name: 'sa' } } },
        { name: 'b', uri: 's3://bucket-b/y', credentials: { secretRef: { name: 'sb' } } },
      ],
    });
    expect(csiSecretName(two)).toBe('imagenet-csi-credentials');
    const merged = buildCsiCredentialsSecret(two, new Map([['sa', { accessKeyId: 'QQ==' }], ['sb', { accessKeyId: 'Qg==' }]]))!;
    validates(new Secret(merged as never));
    expect(merged.data).toEqual({ 'a.accessKeyId': 'QQ==', 'b.accessKeyId': 'Qg==' });
  });
});

describe('loader Job and CronJob', () => {
  it('runs hoard load against the SRV name and keeps the summary as termination message', () => {
    const job = buildLoaderJob(dataload({ concurrency: 4, bandwidth: '10Mi', paths: ['/train', "/it's"] }), ctx);
    validates(new Job(job as never));
    expect(job.metadata!.name).toBe('warmup-loader');
    expect(job.spec!.backoffLimit).toBe(3);
    const c = job.spec!.template.spec!.containers[0];
    expect(c.terminationMessagePath).toBe('/dev/termination-log');
    expect(c.command![2]).toContain("'hoard' 'load' '--workers-srv' '_grpc._tcp.imagenet-worker.ml.svc.cluster.local' '--json' '--concurrency' '4' '--bandwidth' '10485760' '/train' '/it'\\''s'");
    expect(job.spec!.template.spec!.restartPolicy).toBe('Never');
  });

  it('builds a CronJob for policy Cron and defaults paths to /', () => {
    const cj = buildLoaderCronJob(dataload({ policy: 'Cron', schedule: '*/5 * * * *', paths: undefined }), ctx);
    validates(new CronJob(cj as never));
    expect(cj.spec!.schedule).toBe('*/5 * * * *');
    expect(cj.spec!.concurrencyPolicy).toBe('Forbid');
    expect(loaderArgs(dataload({ paths: undefined }), ctx).at(-1)).toBe('/');
    expect(() => buildLoaderCronJob(dataload({ policy: 'Cron' }), ctx)).toThrow(/spec.schedule/);
  });
});

describe('spec validation beyond the schema', () => {
  it('names the field for bad datasets', () => {
    expect(validateDatasetSpec(dataset().spec)).toEqual([]);
    expect(validateDatasetSpec(dataset({ mounts: [{ name: 'a', uri: 'file:///a' }, { name: 'a', uri: 'file:///b' }] }).spec)[0].message).toMatch(/spec.mounts\[1\].name: "a" is used twice/);
    expect(validateDatasetSpec(dataset({ mounts: [{ name: 'a', uri: 's3://b/p', options: { secretAccessKey: 'x' } }] }).spec)[0].field).toBe('spec.mounts[0].options.secretAccessKey');
  });

  it('names the field for bad runtimes and loads', () => {
    expect(validateRuntimeSpec(runtime().spec)).toEqual([]);
    expect(validateRuntimeSpec(runtime({ tieredStore: { levels: [{ medium: 'SSD', quota: '1Gi', high: '0.5', low: '0.9' }] } }).spec)[0].field).toBe('spec.tieredStore.levels[0].low');
    expect(validateRuntimeSpec(runtime({ tieredStore: { levels: [{ medium: 'MEM', quota: '1Gi' }, { medium: 'MEM', quota: '2Gi' }] } }).spec)[0].field).toBe('spec.tieredStore.levels[1].medium');
    expect(validateRuntimeSpec(runtime({ pageSize: '1Gi' }).spec)[0].field).toBe('spec.pageSize');
    expect(validateDataLoadSpec(dataload({ policy: 'Cron' }).spec)[0].field).toBe('spec.schedule');
    expect(validateDataLoadSpec(dataload({ paths: ['/a/../b'] }).spec)[0].field).toBe('spec.paths[0]');
  });
});

describe('why workers are not ready', () => {
  const pod = (name: string, status: Record<string, unknown>) => ({ metadata: { name }, status }) as never;
  it('passes on the scheduler, the kubelet and the worker in their own words', () => {
    const pods = [
      pod('ds-worker-1', { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }], containerStatuses: [{ name: 'worker', state: { running: {} } }] }),
      pod('ds-worker-0', { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient memory.' }] }),
      pod('ds-worker-2', { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }], containerStatuses: [{ name: 'worker', state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s' } }, lastState: { terminated: { exitCode: 1, reason: 'Error', message: '--mounts-file: missing\n' } } }] }),
      pod('ds-worker-3', { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }),
    ];
    const unready = unreadyPods(pods);
    expect(unready.map((p) => p.metadata!.name)).toEqual(['ds-worker-0', 'ds-worker-1', 'ds-worker-2']);
    expect(describeUnready(unready, new Map([['ds-worker-1', 'mount data: file mount root /hoard/ufs/data: no such file or directory']]))).toBe(
      'ds-worker-0: not scheduled: Unschedulable: 0/3 nodes are available: 3 Insufficient memory.; ' +
        'ds-worker-1: not ready: mount data: file mount root /hoard/ufs/data: no such file or directory; ' +
        'ds-worker-2: CrashLoopBackOff: back-off 10s (last exit 1 Error: --mounts-file: missing)',
    );
    expect(podNotReadyReason(pods[0]!)).toBe('running, readiness probe not passing yet');
    expect(podNotReadyReason(pod('x', { containerStatuses: [{ name: 'worker', state: { waiting: { reason: 'ImagePullBackOff', message: 'x'.repeat(1000) } } }] })).length).toBeLessThan(320);
  });
});
