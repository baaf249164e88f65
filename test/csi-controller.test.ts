// The CSI Controller service as external-provisioner drives it: `hoard csi --controller` as a real
// process on a unix socket, reading Datasets and PVs from the API-server emulator, and the node
// plugin staging what it provisions with real FUSE mounts over real workers.
import { status } from '@grpc/grpc-js';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, csiClient, forceCleanup, mountsUnder, processesMentioning, run, startController, startPlugin, type CsiClient, type PluginProcess } from './support/csi.js';
import { getTestCluster, type TestCluster } from './support/kube.js';
import { startWorkers, type WorkerGroup } from './support/workers.js';
import { GVR, ensureNamespace, installCrds } from './operator/harness.js';

const NS = 'ml';
const RECORDS = 'hoard-system';
const RO = { mount: {}, access_mode: { mode: 'MULTI_NODE_READER_ONLY' } };

let root: string;
let dataDir: string;
let bigHash: string;
let cluster: TestCluster;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let workers: WorkerGroup;
let controller: PluginProcess;
let node: PluginProcess;
let ctl: CsiClient;
let csi: CsiClient;

const params = (extra: Record<string, string> = {}) => ({
  dataset: 'demo',
  datasetNamespace: NS,
  'csi.storage.k8s.io/pvc/namespace': 'team-a',
  'csi.storage.k8s.io/pvc/name': 'shared',
  'csi.storage.k8s.io/pv/name': 'pvc-1',
  ...extra,
});

function create(name: string, extra: Record<string, unknown> = {}) {
  return ctl.controller.CreateVolume({ name, volume_capabilities: [RO], parameters: params(), capacity_range: { required_bytes: 1 << 30 }, ...extra });
}

async function dataset(name: string, spec: Record<string, unknown>, phase?: string) {
  await custom.createNamespacedCustomObject({ ...GVR('datasets', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'Dataset', metadata: { name, namespace: NS }, spec } });
  if (!phase) return;
  const obj = (await custom.getNamespacedCustomObject({ ...GVR('datasets', NS), name })) as Record<string, unknown>;
  await custom.replaceNamespacedCustomObjectStatus({ ...GVR('datasets', NS), name, body: { ...obj, status: { phase, pv: `hoard-${NS}-${name}` } } });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hoard-csi-ctl-'));
  dataDir = join(root, 'dataset');
  await mkdir(join(dataDir, 'sub'), { recursive: true });
  const big = randomBytes(2 * 1024 * 1024 + 77);
  bigHash = createHash('sha256').update(big).digest('hex');
  await writeFile(join(dataDir, 'sub', 'big.bin'), big);
  await writeFile(join(dataDir, 'top.txt'), 'top\n');
  workers = await startWorkers(2, { ufs: [`data=file://${dataDir}`] });

  cluster = await getTestCluster();
  const kc = cluster.kubeConfig;
  core = kc.makeApiClient(CoreV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
  await installCrds(kc);
  for (const ns of [NS, 'team-a', 'team-b', RECORDS]) await ensureNamespace(kc, ns);
  await dataset('demo', { mounts: [{ name: 'data', uri: `file://${dataDir}` }], sharing: { namespaces: ['team-a'] } }, 'Bound');
  await dataset('warming', { mounts: [{ name: 'data', uri: `file://${dataDir}` }], sharing: { allNamespaces: true } }, 'Pending');
  // The operator's PV for "demo", as operator/builders/volume.ts writes it (static workers here).
  await core.createPersistentVolume({
    body: {
      metadata: { name: `hoard-${NS}-demo` },
      spec: {
        capacity: { storage: '100Pi' },
        accessModes: ['ReadOnlyMany'],
        storageClassName: 'hoard',
        persistentVolumeReclaimPolicy: 'Retain',
        csi: {
          driver: 'csi.hoard.dev',
          volumeHandle: `${NS}/demo`,
          volumeAttributes: {
            dataset: 'demo',
            namespace: NS,
            workers: `static:${workers.addresses().join(',')}`,
            mounts: JSON.stringify({ mounts: [{ name: 'data', uri: `file://${dataDir}`, readOnly: true }] }),
            readOnly: 'false',
            'fuse.attrTimeout': '1',
          },
        },
      },
    },
  });
  await mkdir(join(root, 'ctl'));
  await mkdir(join(root, 'node'));
  controller = await startController({ dir: join(root, 'ctl'), kubeconfig: cluster.kubeconfigPath, namespace: RECORDS });
  node = await startPlugin({ dir: join(root, 'node') });
  ctl = csiClient(controller.socket);
  csi = csiClient(node.socket);
}, 120_000);

afterAll(async () => {
  ctl?.close();
  csi?.close();
  await controller?.kill();
  await node?.kill();
  await forceCleanup(root);
  await workers?.stop();
  await cluster?.stop();
  await rm(root, { recursive: true, force: true });
});

const records = async () => (await core.listNamespacedConfigMap({ namespace: RECORDS, labelSelector: 'app.kubernetes.io/component=csi-controller' })).items;

describe('identity and capabilities', () => {
  it('the controller advertises CONTROLLER_SERVICE and CREATE_DELETE_VOLUME; the node plugin no controller', async () => {
    expect((await ctl.identity.GetPluginCapabilities({})).capabilities).toEqual([{ service: { type: 'CONTROLLER_SERVICE' }, type: 'service' }]);
    expect((await ctl.identity.Probe({})).ready).toEqual({ value: true });
    expect((await ctl.controller.ControllerGetCapabilities({})).capabilities.map((c: any) => c.rpc.type)).toEqual(['CREATE_DELETE_VOLUME']);
    expect((await csi.identity.GetPluginCapabilities({})).capabilities).toEqual([]);
    for (const rpc of ['ControllerPublishVolume', 'ListVolumes', 'GetCapacity', 'CreateSnapshot', 'ControllerExpandVolume']) {
      expect((await codeOf(ctl.controller[rpc]!({}))).code, rpc).toBe(status.UNIMPLEMENTED);
    }
  });
});

describe('lifecycle', () => {
  it('CreateVolume -> NodeStage -> NodePublish -> read -> NodeUnpublish -> NodeUnstage -> DeleteVolume', async () => {
    const { volume } = await create('pvc-life', { parameters: params({ subPath: 'data/sub' }) });
    expect(volume.volume_id).toMatch(/^view-[0-9a-f]{40}$/);
    expect(volume.capacity_bytes).toBe(1 << 30);
    expect(volume.volume_context).toMatchObject({ dataset: 'demo', namespace: NS, readOnly: 'true', subPath: 'data/sub' });
    // No secret or credential in the context: those come from the StorageClass's node-stage Secret.
    expect(Object.keys(volume.volume_context).sort()).toEqual(['dataset', 'fuse.attrTimeout', 'mounts', 'namespace', 'readOnly', 'subPath', 'workers']);
    expect((await records()).map((c) => c.metadata!.name)).toContain(volume.volume_id);

    const staging = join(root, 'kubelet', 'staging', 'life');
    const target = join(root, 'kubelet', 'pods', 'p1', 'mount');
    await mkdir(staging, { recursive: true });
    await csi.node.NodeStageVolume({ volume_id: volume.volume_id, staging_target_path: staging, volume_capability: RO, volume_context: volume.volume_context });
    await csi.node.NodePublishVolume({ volume_id: volume.volume_id, staging_target_path: staging, target_path: target, volume_capability: RO, readonly: true, volume_context: volume.volume_context });
    // The sub-path is the root of what the pod sees.
    const { stdout } = await run('sha256sum', [join(target, 'big.bin')]);
    expect((await run('ls', [target])).stdout.trim()).toBe('big.bin');
    expect(stdout.split(' ')[0]).toBe(bigHash);
    const write = await run('sh', ['-c', `echo x > ${join(target, 'new.txt')}`]).then(() => 'wrote', (e: Error) => e.message);
    expect(write).not.toBe('wrote');
    const stats = await csi.node.NodeGetVolumeStats({ volume_id: volume.volume_id, volume_path: target });
    expect(stats.volume_condition.abnormal).toBe(false);

    await csi.node.NodeUnpublishVolume({ volume_id: volume.volume_id, target_path: target });
    await csi.node.NodeUnstageVolume({ volume_id: volume.volume_id, staging_target_path: staging });
    expect(await mountsUnder(root)).toEqual([]);
    expect(await processesMentioning(root)).toEqual([]);
    await ctl.controller.DeleteVolume({ volume_id: volume.volume_id });
    expect((await records()).map((c) => c.metadata!.name)).not.toContain(volume.volume_id);
    // Idempotent, and the dataset's data is untouched.
    await ctl.controller.DeleteVolume({ volume_id: volume.volume_id });
    await ctl.controller.DeleteVolume({ volume_id: 'view-never-created' });
    expect(createHash('sha256').update(await readFile(join(dataDir, 'sub', 'big.bin'))).digest('hex')).toBe(bigHash);
  });
});

describe('idempotency', () => {
  it('same name and parameters give the same volume; other capacity or parameters are ALREADY_EXISTS', async () => {
    const a = await create('pvc-idem');
    const b = await create('pvc-idem');
    expect(b.volume).toEqual(a.volume);
    // A smaller request is still satisfied by the existing volume.
    expect((await create('pvc-idem', { capacity_range: { required_bytes: 1024 } })).volume.volume_id).toBe(a.volume.volume_id);
    const bigger = await codeOf(create('pvc-idem', { capacity_range: { required_bytes: 2 ** 31 } }));
    expect(bigger.code).toBe(status.ALREADY_EXISTS);
    const other = await codeOf(create('pvc-idem', { parameters: params({ subPath: 'sub' }) }));
    expect(other.code).toBe(status.ALREADY_EXISTS);
    expect(other.details).toContain('pvc-idem');
    // Concurrent retries of one name leave one record.
    const many = await Promise.all([1, 2, 3, 4].map(() => create('pvc-race')));
    expect(new Set(many.map((r) => r.volume.volume_id)).size).toBe(1);
    expect((await records()).filter((c) => c.metadata!.name === many[0].volume.volume_id)).toHaveLength(1);
    await ctl.controller.DeleteVolume({ volume_id: a.volume.volume_id });
    await ctl.controller.DeleteVolume({ volume_id: many[0].volume.volume_id });
  });
});

describe('errors carry the spec codes', () => {
  it('CreateVolume: INVALID_ARGUMENT for missing or bad fields, naming them', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ name: '' }, 'name'],
      [{ name: 'x'.repeat(200) }, 'name'],
      [{ volume_capabilities: [] }, 'volume_capabilities'],
      [{ volume_capabilities: [{ mount: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] }, 'SINGLE_NODE_WRITER'],
      [{ volume_capabilities: [RO, { mount: {}, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } }] }, 'volume_capabilities[1]'],
      [{ volume_capabilities: [{ block: {}, access_mode: { mode: 'MULTI_NODE_READER_ONLY' } }] }, 'block'],
      [{ volume_content_source: { snapshot: { snapshot_id: 's' } } }, 'volume_content_source'],
      [{ parameters: params({ colour: 'blue' }) }, 'parameters.colour'],
      // A StorageClass (or a claim through it) never carries a mount table or a host path: the volume context is the operator's.
      [{ parameters: params({ mounts: JSON.stringify({ mounts: [{ name: 'x', uri: 'file:///hoard/ufs/x', volume: { name: 'ufs-0', mountPath: '/hoard/ufs/x', source: { hostPath: { path: '/etc', type: 'Directory' } } } }] }) }) }, 'parameters.mounts'],
      [{ parameters: params({ hostPath: '/var/lib/kubelet' }) }, 'parameters.hostPath'],
      [{ parameters: { datasetNamespace: NS } }, 'parameters.dataset'],
      [{ parameters: params({ dataset: 'Not_A_Name' }) }, 'parameters.dataset'],
      [{ parameters: params({ subPath: '../other' }) }, 'parameters.subPath'],
      [{ parameters: params({ subPath: '/etc' }) }, 'parameters.subPath'],
      [{ parameters: params({ subPath: 'a/'.repeat(600) }) }, 'parameters.subPath'],
      [{ capacity_range: { required_bytes: -1 } }, 'required_bytes'],
      [{ parameters: params({ 'csi.storage.k8s.io/pvc/name': 'x'.repeat(300) }) }, 'pvc/name'],
      [{ parameters: params({ 'csi.storage.k8s.io/pvc/namespace': 'Bad NS' }) }, 'pvc/namespace'],
    ];
    for (const [override, field] of cases) {
      const r = await codeOf(create('pvc-bad', override));
      expect(r.code, field).toBe(status.INVALID_ARGUMENT);
      expect(r.details, field).toContain(field);
    }
    const range = await codeOf(create('pvc-bad', { capacity_range: { required_bytes: 2000, limit_bytes: 1000 } }));
    expect(range.code).toBe(status.OUT_OF_RANGE);
    const { 'csi.storage.k8s.io/pvc/namespace': _ns, ...noNamespace } = params();
    const unchecked = await codeOf(create('pvc-bad', { parameters: noNamespace }));
    expect(unchecked.code).toBe(status.INVALID_ARGUMENT);
    expect(unchecked.details).toContain('--extra-create-metadata');
    expect(await records()).toEqual([]);
  });

  it('CreateVolume: NOT_FOUND for an unknown dataset, UNAVAILABLE until it is Bound, PERMISSION_DENIED outside spec.sharing', async () => {
    const missing = await codeOf(create('pvc-missing', { parameters: params({ dataset: 'nope' }) }));
    expect(missing.code).toBe(status.NOT_FOUND);
    expect(missing.details).toContain(`Dataset ${NS}/nope`);
    const warming = await codeOf(create('pvc-warming', { parameters: params({ dataset: 'warming' }) }));
    expect(warming.code).toBe(status.UNAVAILABLE);
    expect(warming.details).toContain(`Dataset ${NS}/warming is Pending`);
    const denied = await codeOf(create('pvc-denied', { parameters: params({ 'csi.storage.k8s.io/pvc/namespace': 'team-b' }) }));
    expect(denied.code).toBe(status.PERMISSION_DENIED);
    expect(denied.details).toContain('"team-b"');
    expect(denied.details).toContain('spec.sharing.namespaces');
    // The Dataset's own namespace may always use it.
    const own = await create('pvc-own', { parameters: params({ 'csi.storage.k8s.io/pvc/namespace': NS }) });
    await ctl.controller.DeleteVolume({ volume_id: own.volume.volume_id });
    expect(await records()).toEqual([]);
  });

  it('DeleteVolume and ValidateVolumeCapabilities: fields first, then NOT_FOUND; unsupported capabilities unconfirmed', async () => {
    expect((await codeOf(ctl.controller.DeleteVolume({ volume_id: '' }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await codeOf(ctl.controller.ValidateVolumeCapabilities({ volume_id: '', volume_capabilities: [RO] }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await codeOf(ctl.controller.ValidateVolumeCapabilities({ volume_id: 'view-x', volume_capabilities: [] }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await codeOf(ctl.controller.ValidateVolumeCapabilities({ volume_id: 'view-x', volume_capabilities: [RO] }))).code).toBe(status.NOT_FOUND);
    const { volume } = await create('pvc-validate');
    const ok = await ctl.controller.ValidateVolumeCapabilities({ volume_id: volume.volume_id, volume_capabilities: [RO], volume_context: volume.volume_context });
    expect(ok.confirmed.volume_capabilities).toHaveLength(1);
    const rw = await ctl.controller.ValidateVolumeCapabilities({ volume_id: volume.volume_id, volume_capabilities: [{ mount: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] });
    expect(rw.confirmed).toBeNull();
    expect(rw.message).toContain('read-only');
    await ctl.controller.DeleteVolume({ volume_id: volume.volume_id });
  });
});
