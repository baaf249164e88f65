import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppsV1Api, CoordinationV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { getTestCluster, type TestCluster } from './support/kube.js';
import { startDataServer, type DataServer } from './support/data-server.js';
import { deleteTestNamespace, GVR, installCrds, testClusterDomain, testImage, testNamespace, waitUntil } from './operator/harness.js';
import { spawnOperator, type OperatorProcess } from './operator/process.js';

let NS: string;
let data: DataServer;
let cluster: TestCluster;
let custom: CustomObjectsApi;
let apps: AppsV1Api;
let coordination: CoordinationV1Api;
const running: OperatorProcess[] = [];

// The image and DNS domain matter on a real cluster, where the workers run as pods from that image.
const flags = (id: string) => ['--identity', id, '--namespaces', NS, '--lease-namespace', NS, '--lease-duration', '3000', '--stats-interval', '60000', '--image', testImage(), '--cluster-domain', testClusterDomain()];

async function addDataset(name: string, replicas = 1): Promise<void> {
  await custom.createNamespacedCustomObject({ ...GVR('datasets', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'Dataset', metadata: { name, namespace: NS }, spec: { mounts: [data.mount('a')] } } });
  await custom.createNamespacedCustomObject({ ...GVR('cacheruntimes', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'CacheRuntime', metadata: { name, namespace: NS }, spec: { replicas, tieredStore: { levels: [{ medium: 'MEM', quota: '64Mi' }] } } } });
}
/** Workers on a real cluster start as pods (image, scheduling); the emulator's are Ready at once. */
const boundWithin = () => (cluster.emulated ? 30_000 : 120_000);
const phase = async (name: string) => ((await custom.getNamespacedCustomObject({ ...GVR('datasets', NS), name })) as any).status?.phase;

beforeAll(async () => {
  cluster = await getTestCluster();
  custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
  apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
  coordination = cluster.kubeConfig.makeApiClient(CoordinationV1Api);
  await installCrds(cluster.kubeConfig);
  NS = await testNamespace(cluster.kubeConfig, 'proc');
  data = await startDataServer(cluster, NS, { '/a.bin': 4096 });
}, 240_000);

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.kill('SIGKILL')));
});

afterAll(async () => {
  // An operator removes the Datasets' finalizers while their objects are deleted.
  const cleaner = cluster && NS ? await spawnOperator(cluster.kubeconfigPath, flags('cleanup')).catch(() => undefined) : undefined;
  if (cluster && NS) await deleteTestNamespace(cluster.kubeConfig, NS);
  await cleaner?.kill('SIGKILL');
  await cluster?.stop();
}, 120_000);

describe('hoard operator processes', () => {
  it('killed mid-reconcile and restarted, converges to the same objects', async () => {
    for (let i = 0; i < 10; i++) await addDataset(`crash-${i}`);
    const first = await spawnOperator(cluster.kubeconfigPath, flags('a'));
    running.push(first);
    // Kill as soon as the first StatefulSet exists: the other datasets are half done.
    await waitUntil(async () => (await apps.listNamespacedStatefulSet({ namespace: NS })).items.length > 0, 20_000, 'first StatefulSet');
    await first.kill('SIGKILL');
    const second = await spawnOperator(cluster.kubeconfigPath, flags('a'));
    running.push(second);
    await waitUntil(async () => (await Promise.all(Array.from({ length: 10 }, (_, i) => phase(`crash-${i}`)))).every((p) => p === 'Bound'), boundWithin(), 'all Bound after restart');
    const sets = (await apps.listNamespacedStatefulSet({ namespace: NS })).items.filter((s) => s.metadata!.name!.startsWith('crash-'));
    expect(sets).toHaveLength(10);
    for (const s of sets) expect(s.spec!.template.spec!.containers[0]!.image).toBe(testImage());
  }, 240_000);

  it('two replicas: one leader reconciles; the standby takes over when it dies', async () => {
    const a = await spawnOperator(cluster.kubeconfigPath, [...flags('replica-a'), '--lease-name', 'ha']);
    running.push(a);
    const lease = await waitUntil(async () => {
      const l = await coordination.readNamespacedLease({ name: 'ha', namespace: NS });
      return l.spec?.holderIdentity ? l : undefined;
    }, 15_000, 'lease held');
    expect(lease.spec!.holderIdentity).toBe('replica-a');
    const b = await spawnOperator(cluster.kubeconfigPath, [...flags('replica-b'), '--lease-name', 'ha']);
    running.push(b);
    await addDataset('ha-1');
    await waitUntil(async () => (await phase('ha-1')) === 'Bound', boundWithin(), 'ha-1 Bound');
    expect((await coordination.readNamespacedLease({ name: 'ha', namespace: NS })).spec!.holderIdentity).toBe('replica-a');
    expect(b.stderr()).not.toContain('became leader');
    await a.kill('SIGKILL');
    await waitUntil(async () => (await coordination.readNamespacedLease({ name: 'ha', namespace: NS })).spec?.holderIdentity === 'replica-b', 20_000, 'replica-b leads');
    await addDataset('ha-2');
    await waitUntil(async () => (await phase('ha-2')) === 'Bound', boundWithin(), 'ha-2 Bound by the new leader');
    expect(b.stderr()).toContain('became leader');
  }, 240_000);
});
