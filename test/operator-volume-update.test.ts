// A change to what a Dataset's volume carries (mount table, FUSE options) cannot reach its PV in
// place: the API server refuses any change to a PV's volume source. The operator recreates the
// PV and PVC when no pod uses the claim, and until then says which pods hold it.
import { CoreV1Api, CustomObjectsApi, type V1PersistentVolume } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../lib/log.js';
import { startOperator, type RunningOperator } from '../operator/manager.js';
import { getTestCluster, testImage, type TestCluster } from './support/kube.js';
import { apiFailure } from './support/kube.js';
import { GVR, deleteTestNamespace, installCrds, testNamespace, updateSpec, waitUntil } from './operator/harness.js';

let cluster: TestCluster;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let operator: RunningOperator;
let NS = '';
const NAME = 'imagenet';
const pvName = () => `hoard-${NS}-${NAME}`;
const readPv = () => core.readPersistentVolume({ name: pvName() });
const condition = async (type: string) => {
  const d = (await custom.getNamespacedCustomObject({ ...GVR('datasets', NS), name: NAME })) as any;
  return (d.status?.conditions ?? []).find((c: { type: string }) => c.type === type);
};
const eventReasons = async () => (await core.listNamespacedEvent({ namespace: NS })).items.filter((e) => e.involvedObject.name === NAME).map((e) => e.reason);
const attr = (pv: V1PersistentVolume, key: string) => pv.spec!.csi!.volumeAttributes![key];

beforeAll(async () => {
  cluster = await getTestCluster();
  const kc = cluster.kubeConfig;
  core = kc.makeApiClient(CoreV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
  await installCrds(kc);
  NS = await testNamespace(kc, 'volume-update');
  operator = startOperator({
    kubeConfig: kc,
    ctx: { image: testImage(), clusterDomain: 'cluster.local' },
    statsIntervalMs: 60_000,
    ufsIntervalMs: 60_000,
    leaderElection: false,
    namespaces: [NS],
    log: createLogger('operator', 'warn'),
  });
}, 60_000);

afterAll(async () => {
  if (cluster && NS) await deleteTestNamespace(cluster.kubeConfig, NS);
  await operator?.stop();
  await cluster?.stop();
});

describe('a Dataset whose volume settings change', () => {
  it('keeps the PV while a pod uses its claim (VolumeOutdated names the pod), then recreates PV and PVC with the new settings', async () => {
    await custom.createNamespacedCustomObject({
      ...GVR('datasets', NS),
      body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'Dataset', metadata: { name: NAME, namespace: NS }, spec: { mounts: [{ name: 'train', uri: 'https://data.example.com/train/' }] } },
    });
    await custom.createNamespacedCustomObject({
      ...GVR('cacheruntimes', NS),
      body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'CacheRuntime', metadata: { name: NAME, namespace: NS }, spec: { replicas: 1, tieredStore: { levels: [{ medium: 'MEM', quota: '64Mi' }] } } },
    });
    const first = await waitUntil(async () => {
      const claim = await core.readNamespacedPersistentVolumeClaim({ name: NAME, namespace: NS }).catch(() => undefined);
      return claim?.status?.phase === 'Bound' ? readPv() : undefined;
    }, 30_000, 'PV created and its PVC Bound');
    expect(attr(first, 'fuse.attrTimeout')).toBe('1');
    // What the operator would have done before: this update is refused by any API server.
    const inPlace = await apiFailure(() => core.replacePersistentVolume({ name: pvName(), body: { ...first, spec: { ...first.spec, csi: { ...first.spec!.csi!, volumeAttributes: { ...first.spec!.csi!.volumeAttributes, 'fuse.attrTimeout': '30' } } } } }));
    expect(inPlace.status.message).toMatch(/spec\.persistentvolumesource: Forbidden: spec\.persistentvolumesource is immutable after creation/);

    await core.createNamespacedPod({
      namespace: NS,
      body: { metadata: { name: 'reader' }, spec: { containers: [{ name: 'c', image: testImage(), command: ['sleep', '3600'], volumeMounts: [{ name: 'd', mountPath: '/data' }] }], volumes: [{ name: 'd', persistentVolumeClaim: { claimName: NAME } }] } },
    });
    await updateSpec(custom, 'cacheruntimes', NS, NAME, (spec) => ({ ...spec, fuse: { ...(spec.fuse ?? {}), attrTimeout: 30 } }));
    const outdated = await waitUntil(async () => {
      const c = await condition('VolumeReady');
      return c?.reason === 'VolumeOutdated' ? c : undefined;
    }, 30_000, 'VolumeReady False, VolumeOutdated');
    expect(outdated.status).toBe('False');
    expect(outdated.message).toContain('volumeAttributes.fuse.attrTimeout');
    expect(outdated.message).toContain('now: reader');
    expect((await readPv()).metadata!.uid).toBe(first.metadata!.uid);
    expect(await eventReasons()).toContain('VolumeOutdated');

    await core.deleteNamespacedPod({ name: 'reader', namespace: NS, gracePeriodSeconds: 0 });
    const second = await waitUntil(async () => {
      const pv = await readPv().catch(() => undefined);
      const claim = await core.readNamespacedPersistentVolumeClaim({ name: NAME, namespace: NS }).catch(() => undefined);
      return pv && pv.metadata!.uid !== first.metadata!.uid && claim?.status?.phase === 'Bound' ? pv : undefined;
    }, 60_000, 'PV and PVC recreated and Bound');
    expect(attr(second, 'fuse.attrTimeout')).toBe('30');
    expect(second.spec!.csi!.volumeHandle).toBe(first.spec!.csi!.volumeHandle);
    await waitUntil(async () => (await condition('VolumeReady'))?.status === 'True', 30_000, 'VolumeReady True again');
    expect(await eventReasons()).toContain('VolumeRecreating');
  });
});
