import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { TestCluster } from './support/kube.js';
import { startOperatorSuite, type OperatorSuite } from './operator/suite.js';
import { startDataServer, type DataServer } from './support/data-server.js';
import { rawWorkerClient } from './support/workers.js';
import { blockKey, createClient, HashRing } from '../worker/client/index.js';
import { GVR, updateSpec, waitUntil } from './operator/harness.js';

/**
 * Status numbers that stay true when the ring changes, against the cluster's own worker pods
 * (real `hoard worker` processes on the emulator; the same on a real cluster): two workers cache
 * every file, a third joins, a re-read makes it fetch the blocks it now owns, and the Dataset's
 * cached bytes still count each page once (on its owner under the ready pods' ring) while the
 * copies left on the old owners show as stale bytes.
 */
let NS: string;
let suite: OperatorSuite;
let cluster: TestCluster;
let data: DataServer;
let custom: CustomObjectsApi;

// Small files of different sizes: each is one block, placed on the ring by its path.
const FILES = Object.fromEntries(Array.from({ length: 24 }, (_, i) => [`/f${String(i).padStart(2, '0')}.bin`, 40_000 + i * 7_001]));

beforeAll(async () => {
  suite = await startOperatorSuite('ring');
  ({ cluster, ns: NS } = suite);
  custom = suite.kc.makeApiClient(CustomObjectsApi);
  data = await startDataServer(cluster, NS, FILES);
}, 240_000);

afterAll(() => suite?.stop(), 120_000);

const getDs = () => custom.getNamespacedCustomObject({ ...GVR('datasets', NS), name: 'ring' }) as Promise<any>;

/** The ready worker pods as the clients name them, "<pod>=<address the test reaches it at>", in ordinal order. */
async function readyWorkers(n: number): Promise<string[]> {
  await waitUntil(async () => (await getDs()).status?.workers?.ready === n, cluster.emulated ? 60_000 : 180_000, `${n} workers ready`);
  const pods = (await cluster.kubeConfig.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: NS, labelSelector: 'app.kubernetes.io/instance=ring' })).items;
  expect(pods.map((p) => p.metadata!.name).sort()).toEqual(Array.from({ length: n }, (_, i) => `ring-worker-${i}`));
  return waitUntil(async () => {
    const list = suite.endpoints.overrides.get(`${NS}/ring`);
    return list?.length === n && list.every((e) => !e.includes('.svc.')) ? list.map((e, i) => `ring-worker-${i}=${e}`) : undefined;
  }, 30_000, `the test reaching ${n} workers`);
}

async function readAll(workers: string[]): Promise<void> {
  // No mount table: every byte comes through the workers, so each page is cached on its owner.
  const client = createClient({ workers, shortCircuit: false });
  try {
    for (const [p, size] of Object.entries(FILES)) expect((await client.read(`/data${p}`, 0, size)).equals(data.content(p)), p).toBe(true);
  } finally {
    await client.close();
  }
}

describe('cached bytes after a ring change', () => {
  it('count each page once, on its owner under the ready workers; copies left on old owners are stale bytes', async () => {
    const total = data.totalBytes;
    await custom.createNamespacedCustomObject({ ...GVR('datasets', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'Dataset', metadata: { name: 'ring', namespace: NS }, spec: { mounts: [data.mount('data')] } } });
    await custom.createNamespacedCustomObject({ ...GVR('cacheruntimes', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'CacheRuntime', metadata: { name: 'ring', namespace: NS }, spec: { replicas: 2, tieredStore: { levels: [{ medium: 'MEM', quota: '64Mi' }] } } } });
    await readAll(await readyWorkers(2));
    const before = await waitUntil(async () => {
      const d = await getDs();
      return d.status?.ufsTotalBytes === total && d.status.cacheStates?.cachedBytes === total ? d : undefined;
    }, 30_000, 'every file cached once on two workers');
    expect(before.status.cacheStates).toMatchObject({ cachedPercentage: '100.0%', staleBytes: 0, stale: '0B' });

    await updateSpec(custom, 'cacheruntimes', NS, 'ring', (spec) => ({ ...spec, replicas: 3 }));
    const three = await readyWorkers(3);
    await readAll(three);

    // The third worker now owns (and has fetched) the files the ring moved to it; their old copies stay where they were.
    const ring = new HashRing(['ring-worker-0', 'ring-worker-1', 'ring-worker-2']);
    const moved = Object.entries(FILES).filter(([p]) => ring.owners(blockKey(`/data${p}`, 0), 1)[0] === 'ring-worker-2').reduce((n, [, size]) => n + size, 0);
    expect(moved).toBeGreaterThan(0);
    let summed = 0;
    for (const w of three) {
      const rpc = rawWorkerClient(w);
      summed += Number((await rpc.stats()).usedBytes);
      rpc.close();
    }
    expect(summed).toBe(total + moved); // what the status used to sum: more than the UFS holds

    // Stale as soon as the ring has three members; cached in full again once the re-read reached the status.
    const after = await waitUntil(async () => {
      const d = await getDs();
      return d.status?.cacheStates?.staleBytes === moved && d.status.cacheStates.cachedBytes === total ? d : undefined;
    }, 30_000, 'each page counted once, stale copies reported on their own');
    expect(after.status.cacheStates.cachedBytes).toBeLessThanOrEqual(after.status.ufsTotalBytes);
    expect(after.status.cacheStates.cachedPercentage).toBe('100.0%');
    expect(after.status.cacheStates.stale).toMatch(/KiB$/);
    const cond = after.status.conditions.find((c: any) => c.type === 'StatsAvailable');
    expect(cond).toMatchObject({ status: 'True', reason: 'StatsCollected', message: 'stats from 3 worker(s)' });
  }, 300_000);
});
