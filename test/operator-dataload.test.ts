import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BatchV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { TestCluster } from './support/kube.js';
import { startOperatorSuite, type OperatorSuite } from './operator/suite.js';
import { startDataServer } from './support/data-server.js';
import { resolveWorkersSrv } from './support/worker-endpoints.js';
import type { JobContext } from './support/apiserver/index.js';
import { hoardBin } from '../lib/root.js';
import { GVR, waitUntil } from './operator/harness.js';

/**
 * The same on the emulator and on a real cluster: the Dataset's own worker pods read the data
 * server pod; the loader Job's `hoard load` finds them by their SRV name, in-cluster DNS on a
 * real cluster. The emulator has no cluster DNS, so its kubelet runs the loader through runLoader.
 */
let NS: string;
let suite: OperatorSuite;
let cluster: TestCluster;
let custom: CustomObjectsApi;
let batch: BatchV1Api;
const jobsRun: string[] = [];

/**
 * The emulated kubelet runs each loader Job as the real `hoard load` against the worker pods: the
 * loader's --workers-srv name is resolved the way cluster DNS would (ready pods of the headless
 * Service) into the static list, everything else in the container command is kept.
 */
async function runLoader(ctx: JobContext): Promise<void> {
  jobsRun.push(ctx.job.metadata.name);
  const script = ctx.command[2];
  const argv = [...script.split('\n')[0].matchAll(/'((?:[^']|'\\'')*)'/g)].map((m) => m[1].replace(/'\\''/g, "'"));
  expect(argv.slice(0, 3)).toEqual(['hoard', 'load', '--workers-srv']);
  const workers = await resolveWorkersSrv(cluster.kubeConfig, argv[3]!);
  expect(workers).toHaveLength(2);
  const args = ['load', '--workers', workers.join(','), ...argv.slice(4)];
  await promisify(execFile)('node', [hoardBin(), ...args], { timeout: 30_000 });
}

beforeAll(async () => {
  suite = await startOperatorSuite('loads', { kubelet: { jobHook: runLoader } });
  ({ cluster, ns: NS } = suite);
  custom = suite.kc.makeApiClient(CustomObjectsApi);
  batch = suite.kc.makeApiClient(BatchV1Api);
  const data = await startDataServer(cluster, NS, Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`/f${i}.bin`, 200_000 + i])));
  await custom.createNamespacedCustomObject({ ...GVR('datasets', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'Dataset', metadata: { name: 'cache', namespace: NS }, spec: { mounts: [data.mount('data')] } } });
  await custom.createNamespacedCustomObject({ ...GVR('cacheruntimes', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'CacheRuntime', metadata: { name: 'cache', namespace: NS }, spec: { replicas: 2, tieredStore: { levels: [{ medium: 'MEM', quota: '64Mi' }] } } } });
  await waitUntil(async () => {
    const d = (await custom.getNamespacedCustomObject({ ...GVR('datasets', NS), name: 'cache' })) as any;
    return d.status?.phase === 'Bound' && d.status?.fileCount === 5;
  }, cluster.emulated ? 60_000 : 180_000, 'dataset Bound with UFS totals');
}, 240_000);

afterAll(() => suite?.stop(), 120_000);

const dl = (name: string, spec: object) => ({ apiVersion: 'data.hoard.dev/v1alpha1', kind: 'DataLoad', metadata: { name, namespace: NS }, spec });
const getDl = (name: string) => custom.getNamespacedCustomObject({ ...GVR('dataloads', NS), name }) as Promise<any>;

describe('DataLoad', () => {
  it('Once: runs a loader Job to Complete with progress, and the cache holds the data', async () => {
    await custom.createNamespacedCustomObject({ ...GVR('dataloads', NS), body: dl('warm', { dataset: { name: 'cache' }, concurrency: 4 }) });
    const done = await waitUntil(async () => {
      const o = await getDl('warm');
      return o.status?.phase === 'Complete' ? o : undefined;
    }, cluster.emulated ? 30_000 : 180_000, 'DataLoad Complete');
    if (cluster.emulated) expect(jobsRun).toContain('warm-loader');
    const job = await batch.readNamespacedJob({ name: 'warm-loader', namespace: NS });
    expect(job.metadata!.ownerReferences![0]).toEqual(expect.objectContaining({ kind: 'DataLoad', name: 'warm' }));
    expect(done.status.progress).toEqual(expect.objectContaining({ filesDone: 5, filesTotal: 5, percent: '100.0%', failures: 0 }));
    expect(done.status.progress.bytesTotal).toBe(1_000_010);
    expect(done.status.startTime).toBeDefined();
    expect(done.status.completionTime).toBeDefined();
    expect(done.status.duration).toMatch(/^\d+s$/);
    // The real loader filled the Dataset's own worker pods: the stats the operator reads from them show it.
    await waitUntil(async () => {
      const d = (await custom.getNamespacedCustomObject({ ...GVR('datasets', NS), name: 'cache' })) as any;
      return (d.status?.cacheStates?.cachedBytes ?? 0) >= 1_000_010;
    }, 30_000, 'cached bytes in Dataset status');
  }, 240_000);

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
