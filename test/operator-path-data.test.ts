import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { startApiServer, type ApiServer } from './support/apiserver/index.js';
import { startOperator, type RunningOperator } from '../operator/manager.js';
import { createLogger } from '../lib/log.js';
import { hoardBin } from '../lib/root.js';
import { createClient } from '../worker/client/index.js';
import { GVR, ensureNamespace, installCrds, updateSpec, waitUntil } from './operator/harness.js';

/**
 * file:// data in a cluster, end to end on the emulator whose kubelet runs the worker pods as
 * real `hoard worker` processes with their volumes (test/support/apiserver/pod-runner.ts): the
 * data lives in a directory "on the node", reaches the workers only through the hostPath volume
 * the operator declares, and is read back byte-exact from the workers. Emulator only: a real
 * cluster's nodes do not have this test's temporary directory. The operator allows only
 * <root>/allowed as host paths (hoard operator --host-path-allow).
 */
const NS = 'paths';
let api: ApiServer;
let operator: RunningOperator;
/** The node's folders: <root>/allowed (the admin's allow-list) holds data/ and ssd/; <root>/other is outside it. */
let root: string;
let allowed: string;
let dataDir: string;
let otherDir: string;
const files = new Map<string, Buffer>();
const overrides = new Map<string, string[]>();

function runOperator(hostPathAllow: string[]): RunningOperator {
  return startOperator({
    kubeConfig: api.kubeConfig,
    ctx: { image: 'hoard:test', clusterDomain: 'cluster.local' },
    endpointOverrides: overrides,
    statsIntervalMs: 500,
    ufsIntervalMs: 500,
    leaderElection: false,
    hostPathAllow,
    log: createLogger('operator', 'warn'),
  });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hoard-node-'));
  allowed = join(root, 'allowed');
  dataDir = join(allowed, 'data');
  otherDir = join(root, 'other');
  await mkdir(join(dataDir, 'sub'), { recursive: true });
  await mkdir(otherDir);
  await writeFile(join(otherDir, 'x.txt'), 'outside the allow-list');
  files.set('/a.bin', randomBytes(1_500_000));
  files.set('/sub/b.bin', randomBytes(70_001));
  files.set('/empty', Buffer.alloc(0));
  for (const [p, b] of files) await writeFile(join(dataDir, p), b);
  api = await startApiServer({ kubelet: { runPods: { binaries: { hoard: ['node', hoardBin()] } } } });
  await installCrds(api.kubeConfig);
  await ensureNamespace(api.kubeConfig, NS);
  operator = runOperator([allowed]);
}, 60_000);

afterAll(async () => {
  await operator?.stop();
  await api?.stop();
  if (root) await rm(root, { recursive: true, force: true });
}, 30_000);

const custom = () => api.kubeConfig.makeApiClient(CustomObjectsApi);
const getDs = (name: string) => custom().getNamespacedCustomObject({ ...GVR('datasets', NS), name }) as Promise<any>;
async function createDataset(name: string, mounts: object[], levels: object[] | null = [{ medium: 'MEM', quota: '64Mi' }]): Promise<void> {
  await custom().createNamespacedCustomObject({ ...GVR('datasets', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'Dataset', metadata: { name, namespace: NS }, spec: { mounts } } });
  if (levels) await custom().createNamespacedCustomObject({ ...GVR('cacheruntimes', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'CacheRuntime', metadata: { name, namespace: NS }, spec: { replicas: 2, tieredStore: { levels } } } });
}
const ready = (d: any) => d?.status?.conditions?.find((c: any) => c.type === 'Ready');
const eventReasons = async (name: string) => {
  const core = api.kubeConfig.makeApiClient(CoreV1Api);
  return (await core.listNamespacedEvent({ namespace: NS })).items.filter((e) => e.involvedObject.name === name).map((e) => e.reason);
};
const statefulSet = async (name: string) => api.kubeConfig.makeApiClient(AppsV1Api).readNamespacedStatefulSet({ name: `${name}-worker`, namespace: NS }).catch(() => undefined);
/** Waits for Ready=False HostPathNotAllowed and returns the Dataset. */
const refused = (name: string, message: RegExp) =>
  waitUntil(async () => {
    const d = await getDs(name);
    return d.status?.phase === 'Failed' && ready(d)?.reason === 'HostPathNotAllowed' && message.test(ready(d).message) ? d : undefined;
  }, 30_000, `Dataset ${name} refused (HostPathNotAllowed, ${message})`);

describe('file:// data on the nodes', () => {
  it('reaches Bound through real workers that read it from their hostPath volume, byte-exact', async () => {
    await createDataset('local', [{ name: 'data', uri: `file://${dataDir}` }]);
    const bound = await waitUntil(async () => {
      const d = await getDs('local');
      return d.status?.phase === 'Bound' && d.status.workers?.ready === 2 ? d : undefined;
    }, 60_000, 'Dataset local Bound with 2 real workers ready');
    expect(bound.status.conditions.find((c: any) => c.type === 'Ready').status).toBe('True');

    const core = api.kubeConfig.makeApiClient(CoreV1Api);
    const pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: 'app.kubernetes.io/instance=local' })).items.sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!));
    const volume = pods[0]!.spec!.volumes!.find((v) => v.hostPath?.path === dataDir);
    expect(volume?.hostPath?.type).toBe('Directory');
    const endpoints = pods.map((p) => `${p.status!.podIP}:9400`);
    overrides.set(`${NS}/local`, endpoints);
    // No mount table: a read the workers cannot answer fails instead of falling back to the directory.
    const client = createClient({ workers: endpoints.map((e, i) => `local-worker-${i}=${e}`), timeoutMs: 10_000 });
    try {
      for (const [p, want] of files) {
        const got = await client.read(`/data${p}`, 0, want.length + 10);
        expect(got.equals(want), p).toBe(true);
      }
      expect((await client.list('/data')).map((f) => f.name).sort()).toEqual(['a.bin', 'empty', 'sub']);
    } finally {
      await client.close();
    }
    const withStats = await waitUntil(async () => {
      const d = await getDs('local');
      return d.status?.fileCount === 3 ? d : undefined;
    }, 20_000, 'UFS totals from the real workers');
    expect(withStats.status.ufsTotalBytes).toBe(1_570_001);
  }, 120_000);

  it("passes the workers' own not-ready reason on in the Dataset's condition", async () => {
    await createDataset('broken', [
      { name: 'data', uri: `file://${dataDir}` },
      { name: 'bucket', uri: 's3://nowhere/prefix', options: { endpoint: 'http://127.0.0.1:1', region: 'us-east-1', pathStyle: 'true' } },
    ]);
    const d = await waitUntil(async () => {
      const ds = await getDs('broken');
      const ready = ds.status?.conditions?.find((c: any) => c.type === 'Ready');
      return ready && /broken-worker-0: not ready: mount bucket/.test(ready.message) ? ds : undefined;
    }, 60_000, "the worker's reason in the Ready condition");
    const ready = d.status.conditions.find((c: any) => c.type === 'Ready');
    expect(ready).toEqual(expect.objectContaining({ status: 'False', reason: 'WorkersNotReady' }));
    expect(ready.message).toMatch(/^waiting for cache workers: 0\/2 ready; broken-worker-0: not ready: mount bucket: /);
    expect(d.status.phase).toBe('Pending');
  }, 90_000);
});

describe('SSD tiers on a host path', () => {
  it("leave no folder on the node once their Dataset is deleted: each worker removes its own", async () => {
    const ssd = await mkdtemp(join(allowed, 'ssd-'));
    try {
      await writeFile(join(ssd, 'not-hoard.txt'), 'someone else\'s file');
      // Inside the allow-list, so fine until a CacheRuntime keeps a cache tier there.
      await createDataset('peek', [{ name: 'data', uri: `file://${ssd}/` }], null);
      await waitUntil(async () => ready(await getDs('peek'))?.reason === 'NoRuntime', 30_000, 'Dataset peek waiting for its runtime');
      await createDataset('tiered', [{ name: 'data', uri: `file://${dataDir}` }], [{ medium: 'MEM', quota: '16Mi' }, { medium: 'SSD', path: ssd, quota: '64Mi' }]);
      await waitUntil(async () => (await getDs('tiered')).status?.phase === 'Bound', 60_000, 'Dataset tiered Bound');
      // Another Dataset may not read the cached pages: the new tier folder refuses it at once.
      await refused('peek', new RegExp(`host path ${ssd} is ${ssd} \\(a CacheRuntime's cache tier folder`));
      // Each worker keeps its pages in its own <namespace>_<pod> folder of the node directory.
      expect((await readdir(ssd)).sort()).toEqual(['not-hoard.txt', `${NS}_tiered-worker-0`, `${NS}_tiered-worker-1`]);
      await custom().deleteNamespacedCustomObject({ ...GVR('datasets', NS), name: 'tiered' });
      await waitUntil(async () => !(await getDs('tiered').catch(() => undefined)), 30_000, 'Dataset tiered gone');
      expect(await readdir(ssd)).toEqual(['not-hoard.txt']);
      const core = api.kubeConfig.makeApiClient(CoreV1Api);
      const events = (await core.listNamespacedEvent({ namespace: NS })).items.filter((e) => e.involvedObject.name === 'tiered').map((e) => e.reason);
      expect(events).toEqual(expect.arrayContaining(['CacheRemoved', 'CleanedUp']));
      expect(events).not.toContain('CacheNotRemoved');
    } finally {
      await rm(ssd, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('host paths the admin did not allow', () => {
  const fix = /; point the mount at a folder that holds only data, inside one the cluster admin allows with the chart value operator\.hostPathAllowList \(hoard operator --host-path-allow\)$/;

  it.each([
    ['kubelet', '/var/lib/kubelet/pods', /host path \/var\/lib\/kubelet\/pods is inside \/var\/lib\/kubelet \(the kubelet's directory/],
    ['dotdot', '/srv/../etc', /host path \/srv\/\.\.\/etc \(that is \/etc\) is \/etc \(the node's configuration/],
    ['outside', '', /is outside the host paths the cluster admin allows \(/],
  ])('%s (%s): Failed with HostPathNotAllowed, one Warning Event, no workers', async (name, path, why) => {
    const hostPath = path || otherDir;
    await createDataset(name, [{ name: 'data', uri: `file://${hostPath}` }]);
    const d = await refused(name, why);
    const cond = ready(d);
    expect(cond.status).toBe('False');
    expect(cond.message.startsWith(`spec.mounts[0] "data": host path ${hostPath}`)).toBe(true);
    expect(cond.message).toMatch(fix);
    expect(cond.observedGeneration).toBe(d.metadata.generation);
    expect(await statefulSet(name)).toBeUndefined();
    const rt = (await custom().getNamespacedCustomObject({ ...GVR('cacheruntimes', NS), name })) as any;
    expect(rt.status?.conditions?.find((c: any) => c.type === 'Ready')?.reason).toBe('HostPathNotAllowed');
    const reasons = await eventReasons(name);
    expect(reasons.filter((r) => r === 'HostPathNotAllowed')).toHaveLength(1);
    expect(reasons).not.toContain('WorkersCreated');
  }, 60_000);

  it('a CacheRuntime tier in node state (/run): Failed with CachePathNotAllowed, one Warning Event, no workers, nothing created on the node', async () => {
    const tier = '/run/hoard-tier-test';
    try {
      await createDataset('tierrun', [{ name: 'data', uri: `file://${dataDir}` }], [{ medium: 'MEM', quota: '16Mi' }, { medium: 'SSD', path: `${tier}/`, quota: '64Mi' }]);
      const d = await waitUntil(async () => {
        const ds = await getDs('tierrun');
        return ds.status?.phase === 'Failed' && ready(ds)?.reason === 'CachePathNotAllowed' ? ds : undefined;
      }, 30_000, 'Dataset tierrun refused (CachePathNotAllowed)');
      expect(ready(d).message).toBe(
        `CacheRuntime tierrun: spec.tieredStore.levels[1].path: ${tier} is inside /run (runtime sockets and state (the container runtime's among them)), which no cache tier may be written to; keep cache tiers in a folder of their own, like /mnt/nvme/hoard`,
      );
      expect(await statefulSet('tierrun')).toBeUndefined();
      const reasons = await eventReasons('tierrun');
      expect(reasons.filter((r) => r === 'CachePathNotAllowed')).toHaveLength(1);
      expect(reasons).not.toContain('WorkersCreated');
      expect(existsSync(tier)).toBe(false);
    } finally {
      await rm(tier, { recursive: true, force: true });
    }
  }, 60_000);

  it('tells once: more reconciles of a refused Dataset add no Event; fixing the Dataset brings it up', async () => {
    await updateSpec(custom(), 'datasets', NS, 'kubelet', (spec) => ({ ...spec, mounts: [{ name: 'data', uri: 'file:///var/lib/kubelet' }] }));
    await refused('kubelet', /host path \/var\/lib\/kubelet is \/var\/lib\/kubelet /);
    // Its CacheRuntime changing wakes every Dataset with host paths: still no second Event.
    await updateSpec(custom(), 'cacheruntimes', NS, 'kubelet', (spec) => ({ ...spec, replicas: 1 }));
    await waitUntil(async () => ((await custom().getNamespacedCustomObject({ ...GVR('cacheruntimes', NS), name: 'kubelet' })) as any).status?.workers?.desired === 1, 30_000, 'runtime change reconciled');
    expect((await eventReasons('kubelet')).filter((r) => r === 'HostPathNotAllowed')).toHaveLength(1);
    expect(await statefulSet('kubelet')).toBeUndefined();

    await updateSpec(custom(), 'datasets', NS, 'kubelet', (spec) => ({ ...spec, mounts: [{ name: 'data', uri: `file://${dataDir}` }] }));
    const bound = await waitUntil(async () => {
      const d = await getDs('kubelet');
      return d.status?.phase === 'Bound' && d.status.workers?.ready === 1 ? d : undefined;
    }, 60_000, 'Dataset kubelet Bound once it names an allowed folder');
    expect(ready(bound).status).toBe('True');
    expect((await statefulSet('kubelet'))?.spec?.template.spec?.volumes?.find((v) => v.hostPath?.path === dataDir)?.hostPath?.type).toBe('Directory');
  }, 90_000);

  it('recovers when the admin widens the allow-list and the operator restarts', async () => {
    await operator.stop();
    operator = runOperator([allowed, otherDir]);
    const bound = await waitUntil(async () => {
      const d = await getDs('outside');
      return d.status?.phase === 'Bound' && d.status.workers?.ready === 2 ? d : undefined;
    }, 60_000, 'Dataset outside Bound under the wider allow-list');
    expect(ready(bound).reason).toBe('Bound');
    // Whatever the list says, the kubelet's folder stays refused.
    expect(ready(await getDs('dotdot')).reason).toBe('HostPathNotAllowed');
  }, 90_000);
});
