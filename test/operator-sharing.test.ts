// Sharing a Dataset with other namespaces, end to end against the API-server emulator: the operator
// makes the StorageClass, a stand-in for csi-provisioner turns PVCs naming it into CreateVolume
// calls on a real `hoard csi --controller` process, and the Dataset's status and finalizer follow
// the volumes provisioned from it.
import { CoreV1Api, CustomObjectsApi, StorageV1Api } from '@kubernetes/client-node';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../lib/log.js';
import { startOperator, type RunningOperator } from '../operator/manager.js';
import { csiClient, startController, type CsiClient, type PluginProcess } from './support/csi.js';
import { getTestCluster, type TestCluster } from './support/kube.js';
import { startProvisioner, type Provisioner } from './support/provisioner.js';
import { GVR, ensureNamespace, installCrds, updateSpec, waitUntil } from './operator/harness.js';

const NS = 'ml';
const SC = 'hoard-ml-shared';
let root: string;
let cluster: TestCluster;
let core: CoreV1Api;
let storage: StorageV1Api;
let custom: CustomObjectsApi;
let operator: RunningOperator;
let controller: PluginProcess;
let ctl: CsiClient;
let provisioner: Provisioner;

const get = (name: string) => custom.getNamespacedCustomObject({ ...GVR('datasets', NS), name }) as Promise<any>;
const claim = (namespace: string, name: string, storageClassName = SC) =>
  core.createNamespacedPersistentVolumeClaim({
    namespace,
    body: { metadata: { name, namespace }, spec: { accessModes: ['ReadOnlyMany'], storageClassName, resources: { requests: { storage: '1Gi' } } } },
  });
const claimPhase = async (namespace: string, name: string) => (await core.readNamespacedPersistentVolumeClaim({ namespace, name })).status?.phase;
const events = async (namespace: string, name: string) =>
  (await core.listNamespacedEvent({ namespace })).items.filter((e) => e.involvedObject.name === name);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hoard-sharing-'));
  cluster = await getTestCluster({ standsInFor: 'csi-provisioner (test/support/provisioner.ts turns PVCs into CreateVolume calls)' });
  const kc = cluster.kubeConfig;
  core = kc.makeApiClient(CoreV1Api);
  storage = kc.makeApiClient(StorageV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
  await installCrds(kc);
  for (const ns of [NS, 'team-a', 'team-b', 'hoard-system']) await ensureNamespace(kc, ns);
  operator = startOperator({
    kubeConfig: kc,
    ctx: { image: 'hoard:test', clusterDomain: 'cluster.local' },
    statsIntervalMs: 300,
    ufsIntervalMs: 60_000,
    leaderElection: false,
    log: createLogger('operator', 'warn'),
  });
  controller = await startController({ dir: root, kubeconfig: cluster.kubeconfigPath, namespace: 'hoard-system' });
  ctl = csiClient(controller.socket);
  provisioner = startProvisioner(kc, ctl);
}, 60_000);

afterAll(async () => {
  await provisioner?.stop();
  ctl?.close();
  await controller?.kill();
  await operator?.stop();
  await cluster?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('sharing a Dataset through its StorageClass', () => {
  it('creates the StorageClass, provisions for allowed namespaces only, lists the volumes, and holds deletion for them', async () => {
    await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 's3-creds' }, stringData: { accessKeyId: 'AKIA', secretAccessKey: 'very-secret' } } });
    await custom.createNamespacedCustomObject({
      ...GVR('datasets', NS),
      body: {
        apiVersion: 'data.hoard.dev/v1alpha1',
        kind: 'Dataset',
        metadata: { name: 'shared', namespace: NS },
        spec: { mounts: [{ name: 'train', uri: 's3://datasets/train', credentials: { secretRef: { name: 's3-creds' } } }], sharing: { namespaces: ['team-a'] } },
      },
    });
    await custom.createNamespacedCustomObject({
      ...GVR('cacheruntimes', NS),
      body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'CacheRuntime', metadata: { name: 'shared', namespace: NS }, spec: { replicas: 1, tieredStore: { levels: [{ medium: 'MEM', quota: '64Mi' }] } } },
    });
    await waitUntil(async () => (await get('shared')).status?.phase === 'Bound', 30_000, 'Dataset Bound');

    const sc = await storage.readStorageClass({ name: SC });
    expect(sc.provisioner).toBe('csi.hoard.dev');
    expect(sc.reclaimPolicy).toBe('Delete');
    expect(sc.volumeBindingMode).toBe('Immediate');
    // Credentials only by reference, as the node-stage Secret; never a value in the parameters.
    expect(sc.parameters).toEqual({
      dataset: 'shared',
      datasetNamespace: NS,
      'csi.storage.k8s.io/node-stage-secret-name': 's3-creds',
      'csi.storage.k8s.io/node-stage-secret-namespace': NS,
    });
    expect((await get('shared')).status.storageClass).toBe(SC);

    // Allowed namespace: provisioned, bound, read-only view of the operator's volume context.
    await claim('team-a', 'train');
    await waitUntil(async () => (await claimPhase('team-a', 'train')) === 'Bound', 15_000, 'team-a PVC Bound');
    const bound = await core.readNamespacedPersistentVolumeClaim({ namespace: 'team-a', name: 'train' });
    const pv = await core.readPersistentVolume({ name: bound.spec!.volumeName! });
    expect(pv.spec!.csi!.volumeAttributes).toMatchObject({ dataset: 'shared', namespace: NS, readOnly: 'true', workers: `srv:_grpc._tcp.shared-worker.${NS}.svc.cluster.local` });
    expect(JSON.stringify(pv.spec!.csi!.volumeAttributes)).not.toContain('very-secret');
    expect(pv.spec!.csi!.nodeStageSecretRef).toEqual({ name: 's3-creds', namespace: NS });

    // Not allowed: stays Pending, and the Event says why.
    await claim('team-b', 'train');
    const failed = await waitUntil(async () => (await events('team-b', 'train')).find((e) => e.reason === 'ProvisioningFailed'), 15_000, 'ProvisioningFailed event');
    expect(failed.type).toBe('Warning');
    expect(failed.message).toContain(`Dataset ${NS}/shared is not shared with namespace "team-b"`);
    expect(failed.message).toContain('spec.sharing.namespaces');
    expect(await claimPhase('team-b', 'train')).toBe('Pending');

    // Status lists the volume and its claim.
    const listed = await waitUntil(async () => {
      const v = (await get('shared')).status?.sharedVolumes;
      return v?.length === 1 && v[0].phase === 'Bound' ? v : undefined;
    }, 10_000, 'status.sharedVolumes');
    expect(listed).toEqual([{ volume: pv.metadata!.name, claimNamespace: 'team-a', claimName: 'train', phase: 'Bound' }]);

    // Deleting the Dataset: the StorageClass goes at once, the finalizer waits for team-a's claim.
    await custom.deleteNamespacedCustomObject({ ...GVR('datasets', NS), name: 'shared' });
    const held = await waitUntil(async () => {
      const d = await get('shared');
      return d.status?.conditions?.find((c: any) => c.type === 'Terminating' && c.reason === 'SharedVolumesInUse') ? d : undefined;
    }, 10_000, 'deletion held by the shared claim');
    expect(held.status.phase).toBe('Terminating');
    expect(held.status.conditions.find((c: any) => c.type === 'Terminating').message).toContain('team-a/train');
    await waitUntil(async () => storage.readStorageClass({ name: SC }).then(() => false, (e: { code?: number }) => e.code === 404), 10_000, 'StorageClass removed');
    await new Promise((r) => setTimeout(r, 1000));
    expect((await get('shared')).metadata.deletionTimestamp).toBeDefined();

    await core.deleteNamespacedPersistentVolumeClaim({ namespace: 'team-a', name: 'train' });
    await waitUntil(async () => get('shared').then(() => false, (e: { code?: number }) => e.code === 404), 20_000, 'Dataset gone once the claim is');
    // The view's record went with the PV (DeleteVolume), and no data was touched by it.
    await waitUntil(async () => provisioner.calls.some((c) => c.method === 'DeleteVolume' && c.name === pv.metadata!.name), 10_000, 'DeleteVolume called');
    const records = await core.listNamespacedConfigMap({ namespace: 'hoard-system', labelSelector: 'app.kubernetes.io/component=csi-controller' });
    expect(records.items).toEqual([]);
  });

  it('recreates the StorageClass when its immutable parameters change, removes it when spec.sharing is dropped, refuses allNamespaces with a list', async () => {
    await custom.createNamespacedCustomObject({
      ...GVR('datasets', NS),
      body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'Dataset', metadata: { name: 'open', namespace: NS }, spec: { mounts: [{ name: 'd', uri: 's3://bucket/d' }], sharing: { allNamespaces: true } } },
    });
    await custom.createNamespacedCustomObject({
      ...GVR('cacheruntimes', NS),
      body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'CacheRuntime', metadata: { name: 'open', namespace: NS }, spec: { tieredStore: { levels: [{ medium: 'MEM', quota: '64Mi' }] } } },
    });
    const first = await waitUntil(async () => storage.readStorageClass({ name: 'hoard-ml-open' }), 30_000, 'StorageClass for allNamespaces');
    // Parameters are immutable (the API server refuses an update), so new credentials recreate it.
    const refused = await storage.replaceStorageClass({ name: 'hoard-ml-open', body: { ...first, parameters: { ...first.parameters, subPath: 'x' } } }).then(() => 0, (e: { code?: number }) => e.code);
    expect(refused).toBe(422);
    await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'open-creds' }, stringData: { accessKeyId: 'A', secretAccessKey: 'S' } } });
    await updateSpec(custom, 'datasets', NS, 'open', (spec) => ({ ...spec, mounts: [{ name: 'd', uri: 's3://bucket/d', credentials: { secretRef: { name: 'open-creds' } } }] }));
    const replaced = await waitUntil(async () => {
      const sc = await storage.readStorageClass({ name: 'hoard-ml-open' });
      return sc.parameters?.['csi.storage.k8s.io/node-stage-secret-name'] === 'open-creds' ? sc : undefined;
    }, 10_000, 'StorageClass recreated with the node-stage Secret');
    expect(replaced.metadata!.uid).not.toBe(first.metadata!.uid);
    expect((await events(NS, 'open')).map((e) => e.reason)).toEqual(expect.arrayContaining(['StorageClassCreated', 'StorageClassReplaced']));
    await updateSpec(custom, 'datasets', NS, 'open', (spec) => ({ ...spec, sharing: undefined }));
    await waitUntil(async () => storage.readStorageClass({ name: 'hoard-ml-open' }).then(() => false, (e: { code?: number }) => e.code === 404), 10_000, 'StorageClass removed');
    // The operator's status write may lose a conflict against the test's own PUT and land a moment later.
    await waitUntil(async () => {
      const d = await get('open');
      return d.status !== undefined && d.status.storageClass === undefined;
    }, 10_000, 'status without storageClass');

    await updateSpec(custom, 'datasets', NS, 'open', (spec) => ({ ...spec, sharing: { allNamespaces: true, namespaces: ['team-a'] } }));
    const failed = await waitUntil(async () => {
      const d = await get('open');
      return d.status?.phase === 'Failed' ? d : undefined;
    }, 10_000, 'invalid sharing reported');
    expect(failed.status.conditions.find((c: any) => c.type === 'Ready').message).toContain('spec.sharing');
  });
});
