// Self-healing of the CSI node plugin: the plugin killed with SIGKILL and restarted, the FUSE child
// killed, both at once. The pod's target path must read again within 10 s each time.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCsiPlugin } from '../csi/plugin.js';
import { createLogger } from '../lib/log.js';
import { csiClient, forceCleanup, mountsUnder, processesMentioning, run, startPlugin, waitFor, type CsiClient, type PluginProcess } from './support/csi.js';
import { startWorkers, type WorkerGroup } from './support/workers.js';

let root: string;
let workers: WorkerGroup;
let plugin: PluginProcess;
let csi: CsiClient;

const CAP = { mount: {}, access_mode: { mode: 'MULTI_NODE_READER_ONLY' } };
const stagingPath = () => join(root, 'staging', 'vol-r');
const targetPath = () => join(root, 'pods', 'pod-r', 'mount');
const file = () => join(targetPath(), 'data', 'note.txt');

async function restartPlugin(signal: NodeJS.Signals) {
  csi.close();
  await plugin.kill(signal);
  plugin = await startPlugin({ dir: root, stateDir: join(root, 'state') });
  csi = csiClient(plugin.socket);
}

function context(): Record<string, string> {
  return {
    dataset: 'demo',
    namespace: 'default',
    workers: `static:${workers.addresses().join(',')}`,
    mounts: JSON.stringify({ mounts: [{ name: 'data', uri: `file://${join(root, 'dataset')}` }] }),
  };
}

/** Reads the published file with cat until it works; bounded at 10 s as the issue demands. */
const readsAgain = () =>
  waitFor(async () => (await run('cat', [file()], { timeout: 3000 })).stdout, 10_000, 'target path readable').catch((err: Error) => {
    throw new Error(`${err.message}\nplugin log:\n${plugin.logs().split('\n').filter((l) => !l.includes('csi call')).slice(-12).join('\n')}`);
  });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hoard-csi-heal-'));
  await mkdir(join(root, 'dataset'), { recursive: true });
  await writeFile(join(root, 'dataset', 'note.txt'), 'still here\n');
  workers = await startWorkers(1, { ufs: [`data=file://${join(root, 'dataset')}`] });
  plugin = await startPlugin({ dir: root, stateDir: join(root, 'state') });
  csi = csiClient(plugin.socket);
  await mkdir(stagingPath(), { recursive: true });
  const volume_context = context();
  await csi.node.NodeStageVolume({ volume_id: 'vol-r', staging_target_path: stagingPath(), volume_capability: CAP, volume_context });
  await csi.node.NodePublishVolume({
    volume_id: 'vol-r',
    staging_target_path: stagingPath(),
    target_path: targetPath(),
    volume_capability: CAP,
    readonly: true,
    volume_context,
  });
  expect((await run('cat', [file()])).stdout).toBe('still here\n');
});

afterAll(async () => {
  csi?.close();
  await plugin?.kill('SIGTERM');
  await forceCleanup(root);
  await workers?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('recovery', () => {
  it('a plugin killed with SIGKILL and restarted adopts the live FUSE child', async () => {
    const [before] = await processesMentioning(stagingPath());
    await restartPlugin('SIGKILL');
    expect(await readsAgain()).toBe('still here\n');
    expect(await processesMentioning(stagingPath())).toEqual([before]);
    expect(plugin.logs()).toContain('checking volumes recorded before the restart');
    expect((await csi.identity.Probe({})).ready).toEqual({ value: true });
  });

  it('a killed FUSE child is replaced and the published target re-bound', async () => {
    const [pid] = await processesMentioning(stagingPath());
    process.kill(pid!, 'SIGKILL');
    // The bind mount of a dead FUSE mount fails with ENOTCONN until the healer acts.
    expect(await readsAgain()).toBe('still here\n');
    const now = await processesMentioning(stagingPath());
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(pid);
    await waitFor(async () => plugin.logs().includes('re-bound published target'), 5000, 're-bind logged');
    expect(plugin.logs()).toContain('broken volume mount found; remounting');
    const stats = await csi.node.NodeGetVolumeStats({ volume_id: 'vol-r', volume_path: targetPath() });
    expect(stats.volume_condition.abnormal).toBe(false);
  });

  it('plugin and FUSE child both killed: the restarted plugin remounts and re-binds', async () => {
    const [pid] = await processesMentioning(stagingPath());
    csi.close();
    await plugin.kill('SIGKILL');
    process.kill(pid!, 'SIGKILL');
    await waitFor(async () => (await processesMentioning(stagingPath())).length === 0, 5000, 'FUSE child gone');
    plugin = await startPlugin({ dir: root, stateDir: join(root, 'state') });
    csi = csiClient(plugin.socket);
    expect(await readsAgain()).toBe('still here\n');
    expect(plugin.logs()).toContain('volume remounted');
    expect(await processesMentioning(stagingPath())).toHaveLength(1);
  });

  it('unpublish + unstage after all that leaves no mount, process or state entry', async () => {
    await csi.node.NodeUnpublishVolume({ volume_id: 'vol-r', target_path: targetPath() });
    await csi.node.NodeUnstageVolume({ volume_id: 'vol-r', staging_target_path: stagingPath() });
    expect(await mountsUnder(root)).toEqual([]);
    expect(await processesMentioning(root)).toEqual([]);
    const state = JSON.parse(await readFile(join(root, 'state', 'state.json'), 'utf8')) as { volumes: object };
    expect(state.volumes).toEqual({});
  });
});

describe('volume condition', () => {
  it('is abnormal while the FUSE process is gone, and a repeated NodeStageVolume repairs it', async () => {
    // In-process plugin whose periodic healer effectively never runs, so the broken state stays
    // observable; the FUSE child is still a separate `hoard mount` process.
    const dir = join(root, 'cond');
    await mkdir(join(dir, 'staging'), { recursive: true });
    const p = await startCsiPlugin({
      endpoint: `unix://${join(dir, 'csi.sock')}`,
      nodeId: 'node-c',
      stateDir: join(dir, 'state'),
      logger: createLogger('csi-test', 'silent'),
      healIntervalMs: 600_000,
    });
    const client = csiClient(p.socket);
    const staging = join(dir, 'staging');
    const req = { volume_id: 'vol-cond', staging_target_path: staging, volume_capability: CAP, volume_context: context() };
    try {
      await client.node.NodeStageVolume(req);
      let stats = await client.node.NodeGetVolumeStats({ volume_id: 'vol-cond', volume_path: staging });
      expect(stats.volume_condition.abnormal).toBe(false);
      const [pid] = await processesMentioning(staging);
      process.kill(pid!, 'SIGKILL');
      await waitFor(async () => (await processesMentioning(staging)).length === 0, 5000, 'FUSE child gone');
      stats = await client.node.NodeGetVolumeStats({ volume_id: 'vol-cond', volume_path: staging });
      expect(stats.volume_condition).toEqual({ abnormal: true, message: expect.stringContaining('is gone') });
      await client.node.NodeStageVolume(req);
      stats = await client.node.NodeGetVolumeStats({ volume_id: 'vol-cond', volume_path: staging });
      expect(stats.volume_condition.abnormal).toBe(false);
      expect((await run('cat', [join(staging, 'data', 'note.txt')])).stdout).toBe('still here\n');
      await client.node.NodeUnstageVolume({ volume_id: 'vol-cond', staging_target_path: staging });
      expect(await mountsUnder(dir)).toEqual([]);
      expect(await processesMentioning(dir)).toEqual([]);
    } finally {
      client.close();
      await p.stop();
    }
  });
});

describe('readiness', () => {
  it('Probe and /healthz report not ready when the node cannot mount (no FUSE device)', async () => {
    const dir = join(root, 'broken');
    await mkdir(dir, { recursive: true });
    const broken = await startPlugin({ dir, stateDir: join(dir, 'state'), args: ['--fuse-device', join(dir, 'no-such-fuse')] });
    const client = csiClient(broken.socket);
    try {
      expect((await client.identity.Probe({})).ready).toEqual({ value: false });
      const res = await fetch(`http://${broken.health}/healthz`);
      expect(res.status).toBe(503);
      expect(await res.text()).toContain('no-such-fuse');
    } finally {
      client.close();
      await broken.kill('SIGTERM');
    }
  });
});
