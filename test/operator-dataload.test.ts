import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { getTestCluster, type TestCluster } from './support/kube.js';
import { startWorkers, type WorkerGroup } from './support/workers.js';
import type { JobContext } from './support/apiserver/index.js';
import { startOperator, type RunningOperator } from '../operator/manager.js';
import { createLogger } from '../lib/log.js';
import { hoardBin } from '../lib/root.js';
import { deleteTestNamespace, GVR, installCrds, testImage, testNamespace, waitUntil } from './operator/harness.js';

let NS: string;
let cluster: TestCluster;
let workers: WorkerGroup;
let operator: RunningOperator;
let dataDir: string;
let custom: CustomObjectsApi;
let batch: BatchV1Api;
const jobsRun: string[] = [];

/**
 * The emulated kubelet runs each loader Job as the real `hoard load` against the test's worker
 * processes: the loader's --workers-srv name only resolves inside a cluster, so the hook swaps it
 * for the static list (everything else in the container command is kept).
 */
async function runLoader(ctx: JobContext): Promise<void> {
  jobsRun.push(ctx.job.metadata.name);
  const script = ctx.command[2];
  const argv = [...script.split('\n')[0].matchAll(/'((?:[^']|'\\'')*)'/g)].map((m) => m[1].replace(/'\\''/g, "'"));
  expect(argv.slice(0, 3)).toEqual(['hoard', 'load', '--workers-srv']);
  const args = ['load', '--workers', workers.addresses().join(','), ...argv.slice(4)];
  await promisify(execFile)('node', [hoardBin(), ...args], { timeout: 30_000 });
}

beforeAll(async () => {
  cluster = await getTestCluster({ kubelet: { jobHook: runLoader } });
  const kc = cluster.kubeConfig;
  custom = kc.makeApiClient(CustomObjectsApi);
  batch = kc.makeApiClient(BatchV1Api);
  await installCrds(kc);
  NS = await testNamespace(kc, 'loads');
  dataDir = await mkdtemp(join(tmpdir(), 'hoard-op-load-'));
  for (let i = 0; i < 5; i++) await writeFile(join(dataDir, `f${i}.bin`), Buffer.alloc(200_000 + i, i));
  workers = await startWorkers(2, { ufs: [`data=file://${dataDir}`] });
  operator = startOperator({
    kubeConfig: kc,
    ctx: { image: testImage(), clusterDomain: 'cluster.local' },
    namespaces: [NS],
    endpointOverrides: new Map([[`${NS}/cache`, workers.workers.map((w) => w.grpc)]]),
    statsIntervalMs: 300,
    ufsIntervalMs: 300,
    leaderElection: false,
    log: createLogger('operator', 'warn'),
  });
  await custom.createNamespacedCustomObject({ ...GVR('datasets', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'Dataset', metadata: { name: 'cache', namespace: NS }, spec: { mounts: [{ name: 'data', uri: `file://${dataDir}` }] } } });
  await custom.createNamespacedCustomObject({ ...GVR('cacheruntimes', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'CacheRuntime', metadata: { name: 'cache', namespace: NS }, spec: { replicas: 2, tieredStore: { levels: [{ medium: 'MEM', quota: '64Mi' }] } } } });
  await waitUntil(async () => {
    const d = (await custom.getNamespacedCustomObject({ ...GVR('datasets', NS), name: 'cache' })) as any;
    return d.status?.phase === 'Bound' && d.status?.fileCount === 5;
  }, 30_000, 'dataset Bound with UFS totals');
});

afterAll(async () => {
  if (cluster && NS) await deleteTestNamespace(cluster.kubeConfig, NS);
  await operator?.stop();
  await workers?.stop();
  await cluster?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const dl = (name: string, spec: object) => ({ apiVersion: 'data.hoard.dev/v1alpha1', kind: 'DataLoad', metadata: { name, namespace: NS }, spec });
const getDl = (name: string) => custom.getNamespacedCustomObject({ ...GVR('dataloads', NS), name }) as Promise<any>;

describe('DataLoad', () => {
  it('Once: runs a loader Job to Complete with progress, and the cache holds the data', async () => {
    await custom.createNamespacedCustomObject({ ...GVR('dataloads', NS), body: dl('warm', { dataset: { name: 'cache' }, concurrency: 4 }) });
    const done = await waitUntil(async () => {
      const o = await getDl('warm');
      return o.status?.phase === 'Complete' ? o : undefined;
    }, 30_000, 'DataLoad Complete');
    expect(jobsRun).toContain('warm-loader');
    const job = await batch.readNamespacedJob({ name: 'warm-loader', namespace: NS });
    expect(job.metadata!.ownerReferences![0]).toEqual(expect.objectContaining({ kind: 'DataLoad', name: 'warm' }));
    expect(done.status.progress).toEqual(expect.objectContaining({ filesDone: 5, filesTotal: 5, percent: '100.0%', failures: 0 }));
    expect(done.status.progress.bytesTotal).toBe(1_000_010);
    expect(done.status.startTime).toBeDefined();
    expect(done.status.completionTime).toBeDefined();
    expect(done.status.duration).toMatch(/^\d+s$/);
    // The real loader filled the real workers' caches: the Dataset's stats show it.
    await waitUntil(async () => {
      const d = (await custom.getNamespacedCustomObject({ ...GVR('datasets', NS), name: 'cache' })) as any;
      return (d.status?.cacheStates?.cachedBytes ?? 0) >= 1_000_010;
    }, 15_000, 'cached bytes in Dataset status');
  });

  it('waits for a missing dataset and says why', async () => {
    await custom.createNamespacedCustomObject({ ...GVR('dataloads', NS), body: dl('orphan', { dataset: { name: 'nope' } }) });
    const o = await waitUntil(async () => {
      const x = await getDl('orphan');
      return x.status?.conditions?.find((c: any) => c.type === 'Waiting') ? x : undefined;
    }, 10_000, 'Waiting condition');
    expect(o.status.phase).toBe('Pending');
    expect(o.status.conditions.find((c: any) => c.type === 'Waiting')).toEqual(expect.objectContaining({ reason: 'DatasetNotFound', message: expect.stringContaining('spec.dataset.name: Dataset "nope" not found') }));
  });

  it('Cron: creates a CronJob; a scheduled run goes to Complete', async () => {
    await custom.createNamespacedCustomObject({ ...GVR('dataloads', NS), body: dl('nightly', { dataset: { name: 'cache' }, policy: 'Cron', schedule: '0 2 * * *', paths: ['/data'] }) });
    const cj = await waitUntil(async () => batch.readNamespacedCronJob({ name: 'nightly-loader', namespace: NS }), 10_000, 'CronJob');
    expect(cj.spec!.schedule).toBe('0 2 * * *');
    const pending = await getDl('nightly');
    expect(pending.status?.phase ?? 'Pending').toBe('Pending');
    if (!cluster.emulated) return; // a real cluster runs the schedule itself
    cluster.emulator!.kubelet!.triggerCronJob(NS, 'nightly-loader');
    const done = await waitUntil(async () => {
      const o = await getDl('nightly');
      return o.status?.phase === 'Complete' ? o : undefined;
    }, 30_000, 'Cron run Complete');
    expect(done.status.lastScheduleTime).toBeDefined();
    expect(done.status.lastSuccessfulTime).toBeDefined();
    expect(done.status.job).toMatch(/^nightly-loader/);
  });
});
