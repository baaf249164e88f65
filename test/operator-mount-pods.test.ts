// `kubectl describe dataset` shows the FUSE mount pods serving it: the operator lists the CSI
// node plugin's mount pods by label (whatever namespace the plugin runs in) into status.fuse and
// follows their state through a watch.
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMountPod } from '../csi/node/mount-pod-spec.js';
import { parseVolumeContext } from '../csi/server/validation.js';
import { createLogger } from '../lib/log.js';
import { startOperator, type RunningOperator } from '../operator/manager.js';
import { ensureNamespace, GVR, installCrds, waitUntil } from './operator/harness.js';
import { getTestCluster, type TestCluster } from './support/kube.js';

const NS = 'fuse-status';
const PLUGIN_NS = 'fuse-status-csi';
let cluster: TestCluster;
let operator: RunningOperator;
let core: CoreV1Api;
let custom: CustomObjectsApi;

const dataset = () => custom.getNamespacedCustomObject({ ...GVR('datasets', NS), name: 'photos' }) as Promise<any>;

function mountPod(node: string) {
  const config = parseVolumeContext({ dataset: 'photos', namespace: NS, workers: 'static:127.0.0.1:1', mounts: JSON.stringify({ mounts: [{ name: 'data', uri: 's3://bucket/photos' }] }) });
  return buildMountPod({
    volumeId: `${NS}/photos`, nodeName: node, namespace: PLUGIN_NS, image: 'hoard:v1', priorityClassName: '',
    hostDir: '/var/lib/kubelet/plugins/csi.hoard.dev/mounts/x', stagingPath: '/var/lib/kubelet/plugins/kubernetes.io/csi/csi.hoard.dev/x/globalmount',
    config, secretName: 'unused', credentialFields: {},
  });
}

beforeAll(async () => {
  cluster = await getTestCluster({ standsInFor: "the CSI node plugin's mount pods (this file writes their status)" });
  const kc = cluster.kubeConfig;
  core = kc.makeApiClient(CoreV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
  await installCrds(kc);
  await ensureNamespace(kc, NS);
  await ensureNamespace(kc, PLUGIN_NS);
  operator = startOperator({ kubeConfig: kc, ctx: { image: 'hoard:test', clusterDomain: 'cluster.local' }, statsIntervalMs: 60_000, ufsIntervalMs: 600_000, leaderElection: false, log: createLogger('operator', 'warn') });
  await custom.createNamespacedCustomObject({ ...GVR('datasets', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'Dataset', metadata: { name: 'photos', namespace: NS }, spec: { mounts: [{ name: 'data', uri: 's3://bucket/photos' }] } } });
  await custom.createNamespacedCustomObject({ ...GVR('cacheruntimes', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'CacheRuntime', metadata: { name: 'photos', namespace: NS }, spec: { replicas: 1, tieredStore: { levels: [{ medium: 'MEM', quota: '64Mi' }] } } } });
}, 60_000);

afterAll(async () => {
  await operator?.stop();
  await core?.deleteNamespace({ name: PLUGIN_NS }).catch(() => undefined);
  await custom?.deleteNamespacedCustomObject({ ...GVR('datasets', NS), name: 'photos' }).catch(() => undefined);
  await cluster?.stop();
});

describe('Dataset status.fuse', () => {
  it('lists the mount pods of the Dataset per node, follows their restarts, and drops deleted ones', async () => {
    await core.createNamespacedPod({ namespace: PLUGIN_NS, body: mountPod('node-b') });
    await core.createNamespacedPod({ namespace: PLUGIN_NS, body: mountPod('node-a') });
    const listed = await waitUntil(async () => {
      const d = await dataset();
      return d.status?.fuse?.length === 2 && d.status.fuse.every((f: any) => f.phase === 'Running') ? d.status.fuse : undefined;
    }, 20_000, 'status.fuse lists both mount pods');
    expect(listed.map((f: any) => f.node)).toEqual(['node-a', 'node-b']);
    expect(listed[0]).toEqual({ node: 'node-a', pod: `${PLUGIN_NS}/${mountPod('node-a').metadata!.name}`, phase: 'Running', ready: true, restarts: 0, image: 'hoard:v1' });

    if (cluster.emulator) {
      // A crash as the kubelet reports it: restartCount and the last termination.
      const name = mountPod('node-a').metadata!.name!;
      const pod = await core.readNamespacedPod({ name, namespace: PLUGIN_NS });
      const cs = pod.status!.containerStatuses![0]!;
      cs.restartCount = 1;
      cs.lastState = { terminated: { exitCode: 137, reason: 'OOMKilled', message: 'out of memory' } };
      await core.replaceNamespacedPodStatus({ name, namespace: PLUGIN_NS, body: pod });
      const crashed = await waitUntil(async () => (await dataset()).status?.fuse?.find((f: any) => f.node === 'node-a' && f.restarts === 1), 20_000, 'restart shown');
      expect(crashed.lastTermination).toBe('exit 137 (OOMKilled): out of memory');
    }

    await core.deleteNamespacedPod({ name: mountPod('node-b').metadata!.name!, namespace: PLUGIN_NS });
    await waitUntil(async () => (await dataset()).status?.fuse?.length === 1, 20_000, 'deleted pod dropped');
    await core.deleteNamespacedPod({ name: mountPod('node-a').metadata!.name!, namespace: PLUGIN_NS });
    await waitUntil(async () => (await dataset()).status?.fuse === undefined, 20_000, 'status.fuse gone with the last pod');
  });
});
