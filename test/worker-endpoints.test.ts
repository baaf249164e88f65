import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get } from 'node:http';
import { WebSocket } from 'ws';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { getTestCluster, type TestCluster } from './support/kube.js';
import { startDataServer, type DataServer } from './support/data-server.js';
import { forwardPort, trackWorkerEndpoints, type WorkerEndpoints } from './support/worker-endpoints.js';
import type { RunningOperator } from '../operator/manager.js';
import { deleteTestNamespace, GVR, installCrds, startSuiteOperator, testNamespace, waitUntil } from './operator/harness.js';

/**
 * The real-cluster path of the operator suite, run on the emulator: a real cluster's pod IPs are
 * out of the test machine's reach, so the suite tunnels to worker pods through the API server's
 * pods/portforward (client-node's PortForward), which the emulator serves the way kube-apiserver
 * and the kubelet do.
 */
let cluster: TestCluster;
let NS: string;
let data: DataServer;
let endpoints: WorkerEndpoints | undefined;
let operator: RunningOperator | undefined;

function fetchBytes(address: string, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const [host, port] = address.split(':') as [string, string];
    const req = get({ host, port: Number(port), path, timeout: 10_000, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
  });
}

/** The HTTP status the API server answers a port-forward upgrade with (101 = accepted). */
function upgradeStatus(path: string, protocol = 'v4.channel.k8s.io'): Promise<number> {
  const url = `${cluster.emulator!.url.replace(/^http/, 'ws')}${path}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [protocol]);
    ws.on('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.on('error', reject);
  });
}

beforeAll(async () => {
  cluster = await getTestCluster({ realWorkers: true });
  await installCrds(cluster.kubeConfig);
  NS = await testNamespace(cluster.kubeConfig, 'pf');
  data = await startDataServer(cluster, NS, { '/big.bin': 3_000_000, '/small.txt': 17 });
}, 120_000);

afterAll(async () => {
  if (cluster && NS) await deleteTestNamespace(cluster.kubeConfig, NS);
  await operator?.stop();
  await endpoints?.stop();
  await cluster?.stop();
}, 120_000);

describe('forwardPort', () => {
  it('tunnels each local connection to the pod through the API server, byte-exact, several at once', async () => {
    const f = await forwardPort(cluster.kubeConfig, NS, 'test-data', 8080);
    try {
      expect(f.address).toMatch(/^127\.0\.0\.1:\d+$/);
      const got = await Promise.all([fetchBytes(f.address, '/big.bin'), fetchBytes(f.address, '/small.txt'), fetchBytes(f.address, '/big.bin')]);
      expect(got[0]!.equals(data.content('/big.bin'))).toBe(true);
      expect(got[1]!.equals(data.content('/small.txt'))).toBe(true);
      expect(got[2]!.equals(data.content('/big.bin'))).toBe(true);
    } finally {
      await f.close();
    }
  });

  it('closes the local connection (no hang) when the pod does not exist or the port refuses', async () => {
    const missing = await forwardPort(cluster.kubeConfig, NS, 'no-such-pod', 8080);
    const refused = await forwardPort(cluster.kubeConfig, NS, 'test-data', 8081);
    try {
      await expect(fetchBytes(missing.address, '/small.txt')).rejects.toThrow(/socket hang up|ECONNRESET/);
      await expect(fetchBytes(refused.address, '/small.txt')).rejects.toThrow(/socket hang up|ECONNRESET/);
    } finally {
      await missing.close();
      await refused.close();
    }
  });

  it('the emulator refuses what kube-apiserver refuses', async () => {
    if (!cluster.emulated) return;
    const pod = `/api/v1/namespaces/${NS}/pods/test-data/portforward`;
    expect(await upgradeStatus(`${pod}?ports=8080`)).toBe(101);
    expect(await upgradeStatus(`/api/v1/namespaces/${NS}/pods/nope/portforward?ports=8080`)).toBe(404);
    expect(await upgradeStatus(pod)).toBe(400);
    expect(await upgradeStatus(`${pod}?ports=70000`)).toBe(400);
    expect(await upgradeStatus(`${pod}?ports=8080`, 'v5.channel.k8s.io')).toBe(400);
  });
});

describe('trackWorkerEndpoints over port-forward', () => {
  it("gives the operator every worker pod's stats through tunnels, as on a real cluster", async () => {
    endpoints = await trackWorkerEndpoints(cluster, NS, 'port-forward');
    operator = startSuiteOperator(cluster.kubeConfig, NS, endpoints);
    const custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({ ...GVR('datasets', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'Dataset', metadata: { name: 'tunnel', namespace: NS }, spec: { mounts: [data.mount('d')] } } });
    await custom.createNamespacedCustomObject({ ...GVR('cacheruntimes', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'CacheRuntime', metadata: { name: 'tunnel', namespace: NS }, spec: { replicas: 2, tieredStore: { levels: [{ medium: 'MEM', quota: '16Mi' }] } } } });
    const d = await waitUntil(async () => {
      const o = (await custom.getNamespacedCustomObject({ ...GVR('datasets', NS), name: 'tunnel' })) as any;
      return o.status?.phase === 'Bound' && o.status.fileCount === 2 && o.status.conditions.find((c: any) => c.type === 'StatsAvailable')?.message === 'stats from 2 worker(s)' ? o : undefined;
    }, 90_000, 'Dataset Bound with stats from both workers');
    expect(d.status.ufsTotalBytes).toBe(3_000_017);
    const list = endpoints!.overrides.get(`${NS}/tunnel`)!;
    expect(list).toHaveLength(2);
    for (const e of list) expect(e).toMatch(/^127\.0\.0\.1:\d+$/);
  }, 150_000);
});
