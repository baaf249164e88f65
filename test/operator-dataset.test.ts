import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { TestCluster } from './support/kube.js';
import { startOperatorSuite, type OperatorSuite } from './operator/suite.js';
import { startDataServer, type DataServer } from './support/data-server.js';
import { crdManifests, GVR, jsonPath, testImage, updateSpec, waitUntil } from './operator/harness.js';

/**
 * The same on the emulator and on a real cluster (HOARD_TEST_KUBECONFIG): the cluster's own
 * worker pods (real `hoard worker` processes on the emulator) read the test's data from the data
 * server pod, and the operator reads their stats through trackWorkerEndpoints.
 */
let NS: string;
let suite: OperatorSuite;
let cluster: TestCluster;
let data: DataServer;
let ssdDir: string;
let core: CoreV1Api;
let apps: AppsV1Api;
let custom: CustomObjectsApi;

const ds = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'data.hoard.dev/v1alpha1', kind: 'Dataset', metadata: { name, namespace: NS }, spec });
const rt = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'data.hoard.dev/v1alpha1', kind: 'CacheRuntime', metadata: { name, namespace: NS }, spec });
const create = (plural: string, body: object) => custom.createNamespacedCustomObject({ ...GVR(plural, NS), body });
const get = (plural: string, name: string) => custom.getNamespacedCustomObject({ ...GVR(plural, NS), name }) as Promise<any>;

beforeAll(async () => {
  suite = await startOperatorSuite('ml');
  ({ cluster, ns: NS } = suite);
  core = suite.kc.makeApiClient(CoreV1Api);
  apps = suite.kc.makeApiClient(AppsV1Api);
  custom = suite.kc.makeApiClient(CustomObjectsApi);
  // A host folder of the nodes (the test machine on the emulator); each worker removes its own sub-folder.
  ssdDir = `/tmp/hoard-test-ssd-${NS}`;
  data = await startDataServer(cluster, NS, { '/a.bin': 300_000, '/sub/b.bin': 700_000 });
}, 240_000);

afterAll(async () => {
  await suite?.stop();
  if (cluster?.emulated && ssdDir) await rm(ssdDir, { recursive: true, force: true });
}, 120_000);

describe('Dataset + CacheRuntime', () => {
  it('creates workers, mount table and volume, then goes Bound with stats from its own worker pods', async () => {
    await create('datasets', ds('imagenet', { mounts: [data.mount('data')] }));
    await create('cacheruntimes', rt('imagenet', { replicas: 2, tieredStore: { levels: [{ medium: 'MEM', quota: '64Mi' }, { medium: 'SSD', quota: '1Gi', path: ssdDir }] } }));

    const bound = await waitUntil(async () => {
      const d = await get('datasets', 'imagenet');
      // Stats are gathered in the background: wait until a round reached both worker pods.
      const stats = d.status?.conditions?.find((c: any) => c.type === 'StatsAvailable');
      return d.status?.phase === 'Bound' && d.status?.fileCount === 2 && d.status?.cacheStates?.cacheCapacity && stats?.message === 'stats from 2 worker(s)' ? d : undefined;
    }, cluster.emulated ? 60_000 : 180_000, 'Dataset Bound with stats from both workers');
    expect(bound.metadata.finalizers).toContain('data.hoard.dev/finalizer');
    expect(bound.status.workers).toEqual({ desired: 2, ready: 2 });
    expect(bound.status.ufsTotalBytes).toBe(1_000_000);
    expect(bound.status.ufsTotal).toMatch(/KiB$/);
    expect(bound.status.cacheStates.hitRatio).toMatch(/%$/);
    expect(bound.status.pvc).toBe('imagenet');
    const types = Object.fromEntries(bound.status.conditions.map((c: any) => [c.type, c.status]));
    expect(types).toEqual(expect.objectContaining({ Ready: 'True', WorkersReady: 'True', VolumeReady: 'True', RuntimeReady: 'True', StatsAvailable: 'True' }));
    for (const c of bound.status.conditions) expect(c.observedGeneration).toBe(bound.metadata.generation);

    // Every printer column of `kubectl get datasets` resolves to a value.
    const cols = crdManifests().find((c) => c.spec.names.kind === 'Dataset')!.spec.versions[0].additionalPrinterColumns as { name: string; jsonPath: string }[];
    expect(cols.map((c) => c.name)).toEqual(['UFS Total Size', 'Cached', 'Cache Capacity', 'Cached Percentage', 'Phase', 'Age', 'Files', 'Hit Ratio']);
    for (const c of cols) expect(jsonPath(bound, c.jsonPath), c.name).toBeDefined();

    const sts = await apps.readNamespacedStatefulSet({ name: 'imagenet-worker', namespace: NS });
    expect(sts.metadata!.ownerReferences![0].kind).toBe('CacheRuntime');
    expect(sts.spec!.template.spec!.containers[0].args).toEqual(expect.arrayContaining(['--id', '$(POD_NAME)', '--tier', 'MEM:/cache/mem0:64Mi', '--tier', 'SSD:/cache/ssd0/$(POD_NAMESPACE)_$(POD_NAME):1024Mi']));
    const svc = await core.readNamespacedService({ name: 'imagenet-worker', namespace: NS });
    expect(svc.spec!.clusterIP).toBe('None');
    const cm = await core.readNamespacedConfigMap({ name: 'imagenet-mounts', namespace: NS });
    expect(JSON.parse(cm.data!['mounts.json']).mounts[0]).toEqual(expect.objectContaining({ name: 'data', uri: data.uri, options: { manifest: '.manifest' } }));
    const pv = await core.readPersistentVolume({ name: `hoard-${NS}-imagenet` });
    expect(pv.spec!.csi!.volumeHandle).toBe(`${NS}/imagenet`);
    const pvc = await core.readNamespacedPersistentVolumeClaim({ name: 'imagenet', namespace: NS });
    expect(pvc.spec!.volumeName).toBe(`hoard-${NS}-imagenet`);
    await waitUntil(async () => (await core.readNamespacedPersistentVolumeClaim({ name: 'imagenet', namespace: NS })).status?.phase === 'Bound', 30_000, 'PVC Bound');

    const runtime = await waitUntil(async () => {
      const r = await get('cacheruntimes', 'imagenet');
      return r.status?.phase === 'Ready' ? r : undefined;
    }, 30_000, 'CacheRuntime Ready');
    expect(runtime.status.selector).toContain('app.kubernetes.io/instance=imagenet');
    const events = await core.listNamespacedEvent({ namespace: NS });
    const reasons = events.items.filter((e) => e.involvedObject.kind === 'Dataset' && e.involvedObject.name === 'imagenet').map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['WorkersCreated', 'VolumeCreated', 'PhaseBound']));
  }, 240_000);

  it('hands S3 credentials to workers and the CSI side by Secret reference only, never in the mount table', async () => {
    // Nothing serves this bucket: only the rendered objects are checked, not the workers' readiness.
    await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 's3-creds' }, stringData: { accessKeyId: 'AKIA', secretAccessKey: 'very-secret' } } });
    await create('datasets', ds('creds', {
      mounts: [{ name: 'train', uri: 's3://datasets/imagenet/train', options: { endpoint: 'http://127.0.0.1:1', region: 'us-east-1', pathStyle: 'true' }, credentials: { secretRef: { name: 's3-creds' } } }],
    }));
    await create('cacheruntimes', rt('creds', { replicas: 1, tieredStore: { levels: [{ medium: 'MEM', quota: '16Mi' }] } }));
    const d = await waitUntil(async () => {
      const o = await get('datasets', 'creds');
      return o.status?.conditions?.find((c: any) => c.type === 'CredentialsReady')?.status === 'True' ? o : undefined;
    }, 30_000, 'CredentialsReady');
    expect(JSON.stringify(d.status)).not.toContain('very-secret');
    const cm = await waitUntil(() => core.readNamespacedConfigMap({ name: 'creds-mounts', namespace: NS }), 30_000, 'mount table');
    expect(cm.data!['mounts.json']).not.toContain('very-secret');
    expect(cm.data!['mounts.json']).not.toContain('AKIA');
    expect(JSON.parse(cm.data!['mounts.json']).mounts[0].credentialsDir).toBe('/etc/hoard/credentials/train');
    const sts = await waitUntil(() => apps.readNamespacedStatefulSet({ name: 'creds-worker', namespace: NS }), 30_000, 'workers');
    const pod = sts.spec!.template.spec!;
    expect(pod.volumes!.find((v) => v.secret)?.secret).toEqual(expect.objectContaining({ secretName: 's3-creds' }));
    expect(pod.containers[0].volumeMounts!.find((m) => m.mountPath === '/etc/hoard/credentials/train')?.readOnly).toBe(true);
    expect(JSON.stringify(pod.containers[0].env ?? [])).not.toContain('very-secret');
    const pv = await waitUntil(() => core.readPersistentVolume({ name: `hoard-${NS}-creds` }), 30_000, 'PV');
    expect(pv.spec!.csi!.nodeStageSecretRef!.name).toBe('s3-creds');
    expect(JSON.stringify(pv.spec!.csi!.volumeAttributes)).not.toContain('very-secret');
  });

  it('scales and changes tiers in place (same StatefulSet uid)', async () => {
    const before = await apps.readNamespacedStatefulSet({ name: 'imagenet-worker', namespace: NS });
    await updateSpec(custom, 'cacheruntimes', NS, 'imagenet', (spec) => ({ ...spec, replicas: 3, tieredStore: { ...spec.tieredStore, levels: [{ medium: 'MEM', quota: '128Mi' }] } }));
    const after = await waitUntil(async () => {
      const s = await apps.readNamespacedStatefulSet({ name: 'imagenet-worker', namespace: NS });
      return s.spec!.replicas === 3 && s.spec!.template.spec!.containers[0].args!.includes('MEM:/cache/mem0:128Mi') ? s : undefined;
    }, 30_000, 'StatefulSet updated');
    expect(after.metadata!.uid).toBe(before.metadata!.uid);
    expect(after.spec!.template.spec!.volumes!.some((v) => v.name === 'cache-ssd0')).toBe(false);
    // Three new worker pods (the template changed) that answer the operator's stats calls.
    await waitUntil(async () => {
      const d = await get('datasets', 'imagenet');
      return d.status?.workers?.ready === 3 && d.status.conditions.find((c: any) => c.type === 'StatsAvailable')?.message === 'stats from 3 worker(s)';
    }, cluster.emulated ? 60_000 : 180_000, 'three ready workers with stats');
    // The scale subresource reports the same numbers (what `kubectl scale` and HPAs use).
    await waitUntil(async () => (await get('cacheruntimes', 'imagenet')).status?.replicas === 3, 10_000, 'runtime status.replicas');
  }, 240_000);

  it('reports a missing Secret with a condition and a Warning event naming the field', async () => {
    await create('datasets', ds('nokeys', { mounts: [{ name: 'train', uri: 's3://bucket/x', credentials: { secretRef: { name: 'absent' } } }] }));
    await create('cacheruntimes', rt('nokeys', { tieredStore: { levels: [{ medium: 'MEM', quota: '64Mi' }] } }));
    const d = await waitUntil(async () => {
      const o = await get('datasets', 'nokeys');
      return o.status?.conditions?.find((c: any) => c.type === 'CredentialsReady') ? o : undefined;
    }, 10_000, 'CredentialsReady condition');
    const c = d.status.conditions.find((x: any) => x.type === 'CredentialsReady');
    expect(c).toEqual(expect.objectContaining({ status: 'False', reason: 'SecretNotFound' }));
    expect(c.message).toContain('spec.mounts[0].credentials.secretRef.name: Secret "absent" not found');
    expect(d.status.phase).toBe('Pending');
    const ev = await waitUntil(async () => (await core.listNamespacedEvent({ namespace: NS })).items.find((e) => e.involvedObject.name === 'nokeys' && e.reason === 'SecretNotFound'), 10_000, 'event');
    expect(ev.type).toBe('Warning');
    await expect(apps.readNamespacedStatefulSet({ name: 'nokeys-worker', namespace: NS })).rejects.toMatchObject({ code: 404 });
  });

  it('says when a Dataset has no CacheRuntime', async () => {
    await create('datasets', ds('lonely', { mounts: [data.mount('a')] }));
    const d = await waitUntil(async () => {
      const o = await get('datasets', 'lonely');
      return o.status?.conditions?.find((c: any) => c.reason === 'NoRuntime') ? o : undefined;
    }, 10_000, 'NoRuntime');
    expect(d.status.phase).toBe('Pending');
    expect(d.status.conditions.find((c: any) => c.type === 'RuntimeReady').message).toContain('no CacheRuntime named "lonely"');
  });

  it('holds deletion while a pod uses the PVC, then cleans up everything', async () => {
    await create('datasets', ds('held', { mounts: [data.mount('a')] }));
    await create('cacheruntimes', rt('held', { tieredStore: { levels: [{ medium: 'MEM', quota: '64Mi' }] } }));
    await waitUntil(async () => (await get('datasets', 'held')).status?.phase === 'Bound', cluster.emulated ? 60_000 : 180_000, 'held Bound');
    await core.createNamespacedPod({
      namespace: NS,
      body: { metadata: { name: 'reader' }, spec: { containers: [{ name: 'r', image: testImage(), command: ['sleep', '3600'], volumeMounts: [{ name: 'd', mountPath: '/data' }] }], volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'held' } }] } },
    });
    await custom.deleteNamespacedCustomObject({ ...GVR('datasets', NS), name: 'held' });
    const term = await waitUntil(async () => {
      const o = await get('datasets', 'held');
      return o.status?.phase === 'Terminating' ? o : undefined;
    }, 10_000, 'Terminating');
    expect(term.status.conditions.find((c: any) => c.type === 'Terminating').message).toContain('reader');
    expect((await core.readPersistentVolume({ name: `hoard-${NS}-held` })).metadata!.name).toBe(`hoard-${NS}-held`);
    await core.deleteNamespacedPod({ name: 'reader', namespace: NS, gracePeriodSeconds: 0 });
    await waitUntil(async () => get('datasets', 'held').then(() => false, (e) => e.code === 404), 15_000, 'Dataset gone');
    await waitUntil(async () => core.readPersistentVolume({ name: `hoard-${NS}-held` }).then(() => false, (e) => e.code === 404), 15_000, 'PV gone');
    await waitUntil(async () => core.readNamespacedConfigMap({ name: 'held-mounts', namespace: NS }).then(() => false, (e) => e.code === 404), 15_000, 'ConfigMap gone');
  }, 240_000);

  it('deletes at once when no pod uses the PVC', async () => {
    await custom.deleteNamespacedCustomObject({ ...GVR('datasets', NS), name: 'lonely' });
    await waitUntil(async () => get('datasets', 'lonely').then(() => false, (e) => e.code === 404), 15_000, 'lonely gone');
  });
});

describe('schema validation rejects invalid resources', () => {
  const bad: [string, string, object][] = [
    ['no mounts', 'datasets', { mounts: [] }],
    ['missing uri', 'datasets', { mounts: [{ name: 'a' }] }],
    ['bad mount name', 'datasets', { mounts: [{ name: 'Bad Name', uri: 'file:///a' }] }],
    ['unsupported scheme', 'datasets', { mounts: [{ name: 'a', uri: 'ftp://host/a' }] }],
    ['inline credentials', 'datasets', { mounts: [{ name: 'a', uri: 's3://bucket/a', credentials: { secretRef: { name: 's' }, secretAccessKey: 'x' } }] }],
    ['bad access mode', 'datasets', { mounts: [{ name: 'a', uri: 'file:///a' }], accessModes: ['ReadAnything'] }],
    ['unknown medium', 'cacheruntimes', { tieredStore: { levels: [{ medium: 'TAPE', quota: '1Gi' }] } }],
    ['bad quota', 'cacheruntimes', { tieredStore: { levels: [{ medium: 'MEM', quota: 'lots' }] } }],
    ['negative replicas', 'cacheruntimes', { replicas: -1, tieredStore: { levels: [{ medium: 'MEM', quota: '1Gi' }] } }],
    ['no tiers', 'cacheruntimes', { tieredStore: { levels: [] } }],
    ['bad watermark', 'cacheruntimes', { tieredStore: { levels: [{ medium: 'SSD', quota: '1Gi', high: '1.5' }] } }],
    ['unknown policy', 'dataloads', { dataset: { name: 'x' }, policy: 'Sometimes' }],
    ['cron without schedule', 'dataloads', { dataset: { name: 'x' }, policy: 'Cron' }],
    ['relative path', 'dataloads', { dataset: { name: 'x' }, paths: ['train'] }],
    ['zero concurrency', 'dataloads', { dataset: { name: 'x' }, concurrency: 0 }],
  ];
  it.each(bad)('%s', async (_label, plural, spec) => {
    const kind = { datasets: 'Dataset', cacheruntimes: 'CacheRuntime', dataloads: 'DataLoad' }[plural];
    await expect(create(plural, { apiVersion: 'data.hoard.dev/v1alpha1', kind, metadata: { name: 'invalid', namespace: NS }, spec })).rejects.toMatchObject({ code: 422 });
  });
});
