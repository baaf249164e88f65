import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { startApiServer, type ApiServer } from './support/apiserver/index.js';
import { startOperator, type RunningOperator } from '../operator/manager.js';
import { createLogger } from '../lib/log.js';
import { hoardBin, packageRoot } from '../lib/root.js';
import { blockKey, createClient, HashRing } from '../worker/client/index.js';
import { rawWorkerClient } from './support/workers.js';
import { GVR, ensureNamespace, installCrds, updateSpec, waitUntil } from './operator/harness.js';

/**
 * Status numbers that are true after the ring changes, end to end on the emulator whose kubelet
 * runs the worker pods as real `hoard worker` processes: two workers cache every file, a third
 * joins, a re-read makes it fetch the blocks it now owns, and the Dataset's cached bytes still
 * count each page once (on its owner under the ready pods' ring) while the copies left on the old
 * owners show as stale bytes. And an older worker, which does not weigh its pages by the ring,
 * does not break the status: its bytes count as cached and the condition says they may be stale.
 * Emulator only: a real cluster's nodes do not have this test's temporary directory.
 */
const NS = 'stats-ring';
let api: ApiServer;
let operator: RunningOperator;
let dataDir: string;
const files = new Map<string, Buffer>();
const overrides = new Map<string, string[]>();
let total = 0;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'hoard-ring-data-'));
  // Small files of different sizes: each is one block, placed on the ring by its path.
  for (let i = 0; i < 24; i++) files.set(`/f${String(i).padStart(2, '0')}.bin`, randomBytes(40_000 + i * 7_001));
  for (const [p, b] of files) await writeFile(join(dataDir, p), b);
  total = [...files.values()].reduce((n, b) => n + b.length, 0);
  api = await startApiServer({ kubelet: { runPods: { binaries: { hoard: ['node', hoardBin()] } } } });
  await installCrds(api.kubeConfig);
  await ensureNamespace(api.kubeConfig, NS);
  operator = startOperator({
    kubeConfig: api.kubeConfig,
    ctx: { image: 'hoard:test', clusterDomain: 'cluster.local' },
    namespaces: [NS],
    endpointOverrides: overrides,
    statsIntervalMs: 300,
    ufsIntervalMs: 300,
    leaderElection: false,
    log: createLogger('operator', 'warn'),
  });
}, 60_000);

afterAll(async () => {
  await operator?.stop();
  await api?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}, 30_000);

const custom = () => api.kubeConfig.makeApiClient(CustomObjectsApi);
const getDs = (name: string) => custom().getNamespacedCustomObject({ ...GVR('datasets', NS), name }) as Promise<any>;
const statsCondition = (d: any) => d.status?.conditions?.find((c: any) => c.type === 'StatsAvailable');

async function createDataset(name: string, replicas: number): Promise<void> {
  await custom().createNamespacedCustomObject({ ...GVR('datasets', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'Dataset', metadata: { name, namespace: NS }, spec: { mounts: [{ name: 'data', uri: `file://${dataDir}` }] } } });
  await custom().createNamespacedCustomObject({ ...GVR('cacheruntimes', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'CacheRuntime', metadata: { name, namespace: NS }, spec: { replicas, tieredStore: { levels: [{ medium: 'MEM', quota: '64Mi' }] } } } });
}

/** The dataset's ready worker pods as "id=podIP:9400" (the clients' form), in ordinal order; the operator's stats go to the same IPs. */
async function readyWorkers(name: string, n: number): Promise<string[]> {
  await waitUntil(async () => (await getDs(name)).status?.workers?.ready === n, 60_000, `${n} workers of ${name} ready`);
  const core = api.kubeConfig.makeApiClient(CoreV1Api);
  const pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: `app.kubernetes.io/instance=${name}` })).items.sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!));
  expect(pods.map((p) => p.metadata!.name)).toEqual(Array.from({ length: n }, (_, i) => `${name}-worker-${i}`));
  overrides.set(`${NS}/${name}`, pods.map((p) => `${p.status!.podIP}:9400`));
  return pods.map((p) => `${p.metadata!.name}=${p.status!.podIP}:9400`);
}

async function readAll(workers: string[]): Promise<void> {
  // No mount table: every byte comes through the workers, so each page is cached on its owner.
  const client = createClient({ workers, shortCircuit: false });
  try {
    for (const [p, want] of files) expect((await client.read(`/data${p}`, 0, want.length)).equals(want), p).toBe(true);
  } finally {
    await client.close();
  }
}

describe('cached bytes after a ring change', () => {
  it('count each page once, on its owner under the ready workers; copies left on old owners are stale bytes', async () => {
    await createDataset('ring', 2);
    const two = await readyWorkers('ring', 2);
    await readAll(two);
    const before = await waitUntil(async () => {
      const d = await getDs('ring');
      return d.status?.ufsTotalBytes === total && d.status.cacheStates?.cachedBytes === total ? d : undefined;
    }, 30_000, 'every file cached once on two workers');
    expect(before.status.cacheStates).toMatchObject({ cachedPercentage: '100.0%', staleBytes: 0, stale: '0B' });

    await updateSpec(custom(), 'cacheruntimes', NS, 'ring', (spec) => ({ ...spec, replicas: 3 }));
    const three = await readyWorkers('ring', 3);
    await readAll(three);

    // The third worker now owns (and has fetched) the files the ring moved to it; their old copies stay where they were.
    const ring = new HashRing(['ring-worker-0', 'ring-worker-1', 'ring-worker-2']);
    const moved = [...files].filter(([p]) => ring.owners(blockKey(`/data${p}`, 0), 1)[0] === 'ring-worker-2').reduce((n, [, b]) => n + b.length, 0);
    expect(moved).toBeGreaterThan(0);
    let summed = 0;
    for (const w of three) {
      const rpc = rawWorkerClient(w);
      summed += Number((await rpc.stats()).usedBytes);
      rpc.close();
    }
    expect(summed).toBe(total + moved); // what the status summed before: more than the UFS holds

    // Stale as soon as the ring has three members; cached in full again once the re-read (before) reached the status.
    const after = await waitUntil(async () => {
      const d = await getDs('ring');
      return d.status?.cacheStates?.staleBytes === moved && d.status.cacheStates.cachedBytes === total ? d : undefined;
    }, 30_000, 'each page counted once, stale copies reported on their own');
    expect(after.status.cacheStates.cachedBytes).toBeLessThanOrEqual(after.status.ufsTotalBytes);
    expect(after.status.cacheStates.cachedPercentage).toBe('100.0%');
    expect(after.status.cacheStates.stale).toMatch(/KiB$/);
    expect(statsCondition(after)).toMatchObject({ status: 'True', reason: 'StatsCollected', message: 'stats from 3 worker(s)' });
  }, 180_000);

  it('an older worker, which reports no owned bytes, still gives a status: all its bytes cached, and the condition says they may include stale copies', async () => {
    // The wire format of a worker from before owned_bytes: today's proto without the new fields.
    const proto = (await readFile(join(packageRoot(), 'worker', 'proto', 'worker.proto'), 'utf8'))
      .replace(/^\s*optional uint64 owned_(bytes|pages) = \d+;$/gm, '')
      .replace(/message StatsRequest \{[^}]*\}/, 'message StatsRequest {}');
    expect(proto).not.toMatch(/owned_bytes|block_size/);
    const protoFile = join(dataDir, 'old-worker.proto');
    await writeFile(protoFile, proto);
    const def = protoLoader.loadSync(protoFile, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
    const asked: object[] = [];
    const server = new grpc.Server();
    server.addService(def['hoard.worker.v1.Worker'] as grpc.ServiceDefinition, {
      Stats: (call: grpc.ServerUnaryCall<object, object>, cb: grpc.sendUnaryData<object>) => {
        asked.push(call.request);
        cb(null, { workerId: 'old-worker-0', capacityBytes: 64 << 20, usedBytes: 3_000_000, pages: 3, hits: 9, misses: 3, ready: true, readyReason: 'ready' });
      },
      List: (call: grpc.ServerWritableStream<object, object>) => call.end(),
    });
    const port = await new Promise<number>((ok, fail) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))));
    try {
      await createDataset('old', 1);
      await readyWorkers('old', 1);
      overrides.set(`${NS}/old`, [`127.0.0.1:${port}`]);
      const d = await waitUntil(async () => {
        const ds = await getDs('old');
        return /stale copies/.test(statsCondition(ds)?.message ?? '') ? ds : undefined;
      }, 30_000, 'stats from the older worker');
      expect(d.status.cacheStates).toMatchObject({ cachedBytes: 3_000_000, staleBytes: 0, hitRatio: '75.0%' });
      expect(statsCondition(d)).toMatchObject({
        status: 'True',
        reason: 'StatsCollected',
        message: 'stats from 1 worker(s); cached bytes include stale copies on old-worker-0: workers of an older version do not report what they own on the ring',
      });
      expect(asked.length).toBeGreaterThan(0);
    } finally {
      server.forceShutdown();
    }
  }, 120_000);
});
