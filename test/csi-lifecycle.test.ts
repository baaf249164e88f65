// The CSI node plugin driven as the kubelet drives it: a real `hoard csi` process on a unix socket,
// real `hoard worker` processes, real `hoard mount` FUSE children, files read with cat/sha256sum.
import { status } from '@grpc/grpc-js';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, csiClient, forceCleanup, mountsUnder, processesMentioning, run, startPlugin, type CsiClient, type PluginProcess } from './support/csi.js';
import { startWorkers, type WorkerGroup } from './support/workers.js';

let root: string;
let dataDir: string;
let workers: WorkerGroup;
let plugin: PluginProcess;
let csi: CsiClient;
let bigHash: string;

const MOUNT_CAP = { mount: {}, access_mode: { mode: 'MULTI_NODE_READER_ONLY' } };
const RW_CAP = { mount: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } };

function context(extra: Record<string, string> = {}): Record<string, string> {
  return {
    dataset: 'demo',
    namespace: 'ml',
    workers: `static:${workers.addresses().join(',')}`,
    mounts: JSON.stringify({ mounts: [{ name: 'data', uri: `file://${dataDir}` }] }),
    ...extra,
  };
}

const staging = (v: string) => join(root, 'kubelet', 'staging', v);
const target = (pod: string) => join(root, 'kubelet', 'pods', pod, 'mount');

async function stage(volumeId: string, extra: Record<string, unknown> = {}) {
  await mkdir(staging(volumeId), { recursive: true });
  return csi.node.NodeStageVolume({
    volume_id: volumeId,
    staging_target_path: staging(volumeId),
    volume_capability: MOUNT_CAP,
    volume_context: context(),
    ...extra,
  });
}

function publish(volumeId: string, pod: string, extra: Record<string, unknown> = {}) {
  return csi.node.NodePublishVolume({
    volume_id: volumeId,
    staging_target_path: staging(volumeId),
    target_path: target(pod),
    volume_capability: MOUNT_CAP,
    readonly: false,
    volume_context: context(),
    ...extra,
  });
}

async function mountOptions(path: string): Promise<string[] | undefined> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const line = text.split('\n').find((l) => l.split(' ')[4] === path);
  return line?.split(' ')[5]!.split(',');
}

async function stateEntries(): Promise<string[]> {
  const text = await readFile(join(root, 'state', 'state.json'), 'utf8').catch(() => '{"volumes":{}}');
  return Object.keys((JSON.parse(text) as { volumes: object }).volumes);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hoard-csi-life-'));
  dataDir = join(root, 'dataset');
  await mkdir(join(dataDir, 'sub', 'deeper'), { recursive: true });
  const big = randomBytes(3 * 1024 * 1024 + 123);
  bigHash = createHash('sha256').update(big).digest('hex');
  await writeFile(join(dataDir, 'big.bin'), big);
  await writeFile(join(dataDir, 'sub', 'hello.txt'), 'hello from hoard\n');
  await writeFile(join(dataDir, 'sub', 'deeper', 'x.txt'), 'x\n');
  workers = await startWorkers(2, { ufs: [`data=file://${dataDir}`] });
  plugin = await startPlugin({ dir: root, stateDir: join(root, 'state') });
  csi = csiClient(plugin.socket);
});

afterAll(async () => {
  csi?.close();
  await plugin?.kill('SIGTERM');
  await forceCleanup(root);
  await workers?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('identity', () => {
  it('names the driver, has no controller, and is ready on a FUSE-capable node', async () => {
    const info = await csi.identity.GetPluginInfo({});
    expect(info.name).toBe('csi.hoard.dev');
    expect(info.vendor_version).not.toBe('');
    const caps = await csi.identity.GetPluginCapabilities({});
    expect(caps.capabilities).toEqual([]);
    const probe = await csi.identity.Probe({});
    expect(probe.ready).toEqual({ value: true });
    const res = await fetch(`http://${plugin.health}/healthz`);
    expect(res.status).toBe(200);
  });

  it('reports node info and exactly the promised node capabilities', async () => {
    expect((await csi.node.NodeGetInfo({})).node_id).toBe('node-1');
    const caps = (await csi.node.NodeGetCapabilities({})).capabilities.map((c: any) => c.rpc.type).sort();
    expect(caps).toEqual(['GET_VOLUME_STATS', 'STAGE_UNSTAGE_VOLUME', 'VOLUME_CONDITION']);
    const expand = await codeOf(csi.node.NodeExpandVolume({ volume_id: 'v', volume_path: '/x' }));
    expect(expand.code).toBe(status.UNIMPLEMENTED);
  });
});

describe('lifecycle', () => {
  it('stages, publishes ro and rw, serves files to cat/sha256sum, and cleans up everything', async () => {
    // Staged for a writer so that one pod can get a rw bind and another a ro one.
    await stage('vol-a', { volume_capability: RW_CAP });
    // Idempotent: same arguments again succeed and do not start a second FUSE process.
    await stage('vol-a', { volume_capability: RW_CAP });
    expect(await processesMentioning(staging('vol-a'))).toHaveLength(1);

    await publish('vol-a', 'pod-ro', { volume_capability: RW_CAP, readonly: true });
    await publish('vol-a', 'pod-ro', { volume_capability: RW_CAP, readonly: true });
    await publish('vol-a', 'pod-rw', { volume_capability: RW_CAP, readonly: false });

    const { stdout: hello } = await run('cat', [join(target('pod-ro'), 'data', 'sub', 'hello.txt')]);
    expect(hello).toBe('hello from hoard\n');
    const { stdout: sum } = await run('sha256sum', [join(target('pod-rw'), 'data', 'big.bin')]);
    expect(sum.split(' ')[0]).toBe(bigHash);
    const { stdout: sumRo } = await run('sha256sum', [join(target('pod-ro'), 'data', 'big.bin')]);
    expect(sumRo.split(' ')[0]).toBe(bigHash);

    expect(await mountOptions(target('pod-ro'))).toContain('ro');
    expect(await mountOptions(target('pod-rw'))).toContain('rw');
    await expect(run('touch', [join(target('pod-ro'), 'data', 'new-file')])).rejects.toThrow(/Read-only file system/);

    const stats = await csi.node.NodeGetVolumeStats({ volume_id: 'vol-a', volume_path: target('pod-ro') });
    expect(stats.volume_condition).toEqual({ abnormal: false, message: expect.stringContaining('serves') });
    const bytes = stats.usage.find((u: any) => u.unit === 'BYTES');
    expect(bytes.total).toBeGreaterThan(0);
    expect(bytes.used).toBeGreaterThan(0); // big.bin was read through the workers' cache

    await csi.node.NodeUnpublishVolume({ volume_id: 'vol-a', target_path: target('pod-ro') });
    await csi.node.NodeUnpublishVolume({ volume_id: 'vol-a', target_path: target('pod-ro') });
    await csi.node.NodeUnpublishVolume({ volume_id: 'vol-a', target_path: target('pod-rw') });
    // The plugin created the target directories, so it removes them (spec).
    await expect(stat(target('pod-ro'))).rejects.toThrow(/ENOENT/);
    await csi.node.NodeUnstageVolume({ volume_id: 'vol-a', staging_target_path: staging('vol-a') });
    await csi.node.NodeUnstageVolume({ volume_id: 'vol-a', staging_target_path: staging('vol-a') });

    expect(await mountsUnder(root)).toEqual([]);
    expect(await processesMentioning(root)).toEqual([]);
    expect(await stateEntries()).toEqual([]);
  });

  it('publishes a subPath and refuses sub-paths that escape the volume', async () => {
    await stage('vol-sub');
    await publish('vol-sub', 'pod-sub', { volume_context: context({ subPath: 'data/sub' }) });
    const { stdout } = await run('cat', [join(target('pod-sub'), 'deeper', 'x.txt')]);
    expect(stdout).toBe('x\n');
    const escape = await codeOf(publish('vol-sub', 'pod-esc', { volume_context: context({ subPath: '../../etc' }) }));
    expect(escape.code).toBe(status.INVALID_ARGUMENT);
    expect(escape.details).toContain('subPath');
    const missing = await codeOf(publish('vol-sub', 'pod-missing', { volume_context: context({ subPath: 'data/nope' }) }));
    expect(missing.code).toBe(status.INVALID_ARGUMENT);
    await csi.node.NodeUnpublishVolume({ volume_id: 'vol-sub', target_path: target('pod-sub') });
    await csi.node.NodeUnstageVolume({ volume_id: 'vol-sub', staging_target_path: staging('vol-sub') });
    expect(await mountsUnder(root)).toEqual([]);
  });

  it('serves two volumes at once, each with its own FUSE process', async () => {
    await Promise.all([stage('vol-1'), stage('vol-2')]);
    await Promise.all([publish('vol-1', 'pod-1'), publish('vol-2', 'pod-2')]);
    const [a, b] = await Promise.all([
      run('sha256sum', [join(target('pod-1'), 'data', 'big.bin')]),
      run('cat', [join(target('pod-2'), 'data', 'sub', 'hello.txt')]),
    ]);
    expect(a.stdout.split(' ')[0]).toBe(bigHash);
    expect(b.stdout).toBe('hello from hoard\n');
    expect(await processesMentioning(staging('vol-1'))).toHaveLength(1);
    expect(await processesMentioning(staging('vol-2'))).toHaveLength(1);
    await Promise.all([
      csi.node.NodeUnpublishVolume({ volume_id: 'vol-1', target_path: target('pod-1') }),
      csi.node.NodeUnpublishVolume({ volume_id: 'vol-2', target_path: target('pod-2') }),
    ]);
    await Promise.all([
      csi.node.NodeUnstageVolume({ volume_id: 'vol-1', staging_target_path: staging('vol-1') }),
      csi.node.NodeUnstageVolume({ volume_id: 'vol-2', staging_target_path: staging('vol-2') }),
    ]);
    expect(await mountsUnder(root)).toEqual([]);
    expect(await processesMentioning(root)).toEqual([]);
    expect(await stateEntries()).toEqual([]);
  });

  it('serializes concurrent calls for one volume', async () => {
    const results = await Promise.allSettled([stage('vol-c'), stage('vol-c'), stage('vol-c')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(await processesMentioning(staging('vol-c'))).toHaveLength(1);
    await csi.node.NodeUnstageVolume({ volume_id: 'vol-c', staging_target_path: staging('vol-c') });
    expect(await processesMentioning(root)).toEqual([]);
  });
});

describe('errors carry the spec codes', () => {
  it('rejects missing fields, block volumes and bad contexts with INVALID_ARGUMENT naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ volume_id: '' }, 'volume_id'],
      [{ staging_target_path: '' }, 'staging_target_path'],
      [{ staging_target_path: 'relative/path' }, 'staging_target_path'],
      [{ volume_capability: null }, 'volume_capability'],
      [{ volume_capability: { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } } }, 'block'],
      [{ volume_capability: { mount: {}, access_mode: { mode: 'UNKNOWN' } } }, 'access_mode'],
      [{ volume_context: { ...context(), workers: 'nowhere' } }, 'volume_context.workers'],
      [{ volume_context: { ...context(), mounts: '{not json' } }, 'volume_context.mounts'],
      [{ volume_context: { ...context(), mounts: '{"mounts":[{"name":"Bad Name","uri":"file:///x"}]}' } }, 'volume_context.mounts'],
      [{ volume_context: { ...context(), dataset: '' } }, 'volume_context.dataset'],
      [{ volume_context: { ...context(), 'fuse.attrTimeout': 'soon' } }, 'volume_context.fuse.attrTimeout'],
      [{ volume_context: { ...context(), colour: 'blue' } }, 'volume_context.colour'],
      [{ secrets: { password: 'hunter2' } }, 'secrets.password'],
    ];
    for (const [override, field] of cases) {
      const r = await codeOf(stage('vol-bad', override));
      expect(r.code, field).toBe(status.INVALID_ARGUMENT);
      expect(r.details, field).toContain(field);
    }
    // Secret values never reach the log, whatever happens to the call.
    expect(plugin.logs()).not.toContain('hunter2');
    expect(await processesMentioning(root)).toEqual([]);

    const pub = await codeOf(csi.node.NodePublishVolume({ volume_id: 'v', staging_target_path: staging('v'), target_path: '', volume_capability: MOUNT_CAP }));
    expect(pub.code).toBe(status.INVALID_ARGUMENT);
    const unpub = await codeOf(csi.node.NodeUnpublishVolume({ volume_id: '', target_path: target('x') }));
    expect(unpub.code).toBe(status.INVALID_ARGUMENT);
    const unstage = await codeOf(csi.node.NodeUnstageVolume({ volume_id: 'v', staging_target_path: '' }));
    expect(unstage.code).toBe(status.INVALID_ARGUMENT);
    const st = await codeOf(csi.node.NodeGetVolumeStats({ volume_id: 'v', volume_path: '' }));
    expect(st.code).toBe(status.INVALID_ARGUMENT);
  });

  it('FAILED_PRECONDITION for publish before stage; NOT_FOUND for stats of an unknown volume; OK for undoing what never was', async () => {
    const early = await codeOf(publish('vol-never', 'pod-never'));
    expect(early.code).toBe(status.FAILED_PRECONDITION);
    const noStaging = await codeOf(publish('vol-never', 'pod-never', { staging_target_path: '' }));
    expect(noStaging.code).toBe(status.FAILED_PRECONDITION);
    const stats = await codeOf(csi.node.NodeGetVolumeStats({ volume_id: 'vol-never', volume_path: target('pod-never') }));
    expect(stats.code).toBe(status.NOT_FOUND);
    // The spec checks the volume before the path: an unknown volume with a relative path is
    // NOT_FOUND (csi-sanity "should fail when volume is not found"), not INVALID_ARGUMENT.
    const relative = await codeOf(csi.node.NodeGetVolumeStats({ volume_id: 'vol-never', volume_path: 'some/path' }));
    expect(relative.code).toBe(status.NOT_FOUND);
    expect(relative.details).toContain('vol-never');
    expect((await codeOf(csi.node.NodeGetVolumeStats({ volume_id: '', volume_path: 'some/path' }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await codeOf(csi.node.NodeGetVolumeStats({ volume_id: 'vol-never', volume_path: '' }))).code).toBe(status.INVALID_ARGUMENT);
    // Missing fields come first, in the spec's order, whatever else is missing.
    expect((await codeOf(csi.node.NodePublishVolume({}))).details).toContain('volume_id');
    expect((await codeOf(csi.node.NodePublishVolume({ volume_id: 'vol-never' }))).details).toContain('target_path');
    expect((await codeOf(csi.node.NodePublishVolume({ volume_id: 'vol-never', target_path: target('p') }))).details).toContain('volume_capability');
    expect((await codeOf(csi.node.NodeStageVolume({ staging_target_path: staging('v'), volume_capability: MOUNT_CAP }))).details).toContain('volume_id');
    expect((await codeOf(csi.node.NodeStageVolume({ volume_id: 'vol-never', volume_capability: MOUNT_CAP }))).details).toContain('staging_target_path');
    expect((await codeOf(csi.node.NodeStageVolume({ volume_id: 'vol-never', staging_target_path: staging('v') }))).details).toContain('volume_capability');
    expect((await codeOf(csi.node.NodeUnstageVolume({ staging_target_path: staging('v') }))).details).toContain('volume_id');
    expect((await codeOf(csi.node.NodeUnpublishVolume({ volume_id: 'vol-never' }))).details).toContain('target_path');
    // Spec: not staged at staging_target_path -> OK; unpublish is idempotent.
    await csi.node.NodeUnstageVolume({ volume_id: 'vol-never', staging_target_path: staging('vol-never') });
    await csi.node.NodeUnpublishVolume({ volume_id: 'vol-never', target_path: target('pod-never') });
  });

  it('ALREADY_EXISTS for conflicting repeats: another staging path, another capability, another readonly flag', async () => {
    await stage('vol-x');
    await mkdir(staging('vol-x-elsewhere'), { recursive: true });
    const moved = await codeOf(stage('vol-x', { staging_target_path: staging('vol-x-elsewhere') }));
    expect(moved.code).toBe(status.ALREADY_EXISTS);
    const cap = await codeOf(stage('vol-x', { volume_capability: RW_CAP }));
    expect(cap.code).toBe(status.ALREADY_EXISTS);
    await publish('vol-x', 'pod-x', { volume_capability: RW_CAP, readonly: false });
    const ro = await codeOf(publish('vol-x', 'pod-x', { volume_capability: RW_CAP, readonly: true }));
    expect(ro.code).toBe(status.ALREADY_EXISTS);
    const wrongStaging = await codeOf(publish('vol-x', 'pod-y', { staging_target_path: staging('vol-x-elsewhere') }));
    expect(wrongStaging.code).toBe(status.FAILED_PRECONDITION);
    const stats = await codeOf(csi.node.NodeGetVolumeStats({ volume_id: 'vol-x', volume_path: target('pod-other') }));
    expect(stats.code).toBe(status.NOT_FOUND);
    const elsewhere = await codeOf(csi.node.NodeGetVolumeStats({ volume_id: 'vol-x', volume_path: 'some/path' }));
    expect(elsewhere.code).toBe(status.NOT_FOUND);
    // Unstage while a target is still published is refused rather than leaving a dead bind mount.
    const busy = await codeOf(csi.node.NodeUnstageVolume({ volume_id: 'vol-x', staging_target_path: staging('vol-x') }));
    expect(busy.code).toBe(status.FAILED_PRECONDITION);
    await csi.node.NodeUnpublishVolume({ volume_id: 'vol-x', target_path: target('pod-x') });
    await csi.node.NodeUnstageVolume({ volume_id: 'vol-x', staging_target_path: staging('vol-x') });
    expect(await mountsUnder(root)).toEqual([]);
    expect(await processesMentioning(root)).toEqual([]);
    expect(await stateEntries()).toEqual([]);
  });
});
