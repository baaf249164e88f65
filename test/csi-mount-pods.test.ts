// Pod mode of the CSI node plugin, end to end on one machine: a real `hoard csi` process talks to
// the API-server emulator, whose kubelet runs each mount pod's `hoard mount` as a real process
// (restarted when it dies, as restartPolicy Always does). Real workers, real FUSE, real bind
// mounts, files read with sha256sum/cat through the published target path.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMountPod, credentialFields } from '../csi/node/mount-pod-spec.js';
import { parseVolumeContext } from '../csi/server/validation.js';
import { hoardBin } from '../lib/root.js';
import { ensureNamespace, installCrds } from './operator/harness.js';
import { startApiServer, type ApiServer, type KObject } from './support/apiserver/index.js';
import { codeOf, csiClient, forceCleanup, mountsUnder, run, startPlugin, waitFor, type CsiClient, type PluginProcess } from './support/csi.js';
import { startWorkers, type WorkerGroup } from './support/workers.js';

const NS = 'hoard-system';
const CAP = { mount: {}, access_mode: { mode: 'MULTI_NODE_READER_ONLY' } };
const SECRETS = { 'data.accessKeyId': 'AKIAMOUNTPODTEST', 'data.secretAccessKey': 'not-in-argv-or-env' };

let root: string;
let api: ApiServer;
let workers: WorkerGroup;
let plugin: PluginProcess;
let csi: CsiClient;
let bigHash: string;

const staging = (v: string) => join(root, 'kubelet', 'staging', v);
const target = (pod: string) => join(root, 'kubelet', 'pods', pod, 'mount');
const mountRoot = () => join(root, 'kubelet', 'plugins', 'csi.hoard.dev', 'mounts');
const fusePods = () => api.objects.list('v1', 'Pod', NS).filter((p) => p.metadata.labels?.['app.kubernetes.io/component'] === 'fuse');
const pod = (name: string) => api.objects.get({ apiVersion: 'v1', kind: 'Pod', namespace: NS, name });
const events = (reason: string) => api.objects.list('v1', 'Event').filter((e) => e.reason === reason);

function context(): Record<string, string> {
  return {
    dataset: 'demo',
    namespace: 'ml',
    workers: `static:${workers.addresses().join(',')}`,
    mounts: JSON.stringify({ mounts: [{ name: 'data', uri: `file://${join(root, 'dataset')}` }] }),
  };
}

async function startPodModePlugin(image: string, extra: string[] = []): Promise<void> {
  plugin = await startPlugin({
    dir: root,
    stateDir: join(root, 'state'),
    nodeId: api.kubelet!.nodeName,
    args: [
      '--mount-mode', 'pod', '--namespace', NS, '--mount-image', image, '--mount-root', mountRoot(), '--kubeconfig', api.kubeconfigPath,
      '--host-path-allow', join(root, 'allowed'), '--kubelet-dir', join(root, 'kubelet'), ...extra,
    ],
  });
  csi = csiClient(plugin.socket);
}

async function restartPlugin(signal: NodeJS.Signals, image: string, extra: string[] = []): Promise<void> {
  csi.close();
  await plugin.kill(signal);
  await startPodModePlugin(image, extra);
}

const stageReq = (v: string) => ({ volume_id: v, staging_target_path: staging(v), volume_capability: CAP, volume_context: context(), secrets: SECRETS });
const publishReq = (v: string, p: string) => ({ volume_id: v, staging_target_path: staging(v), target_path: target(p), volume_capability: CAP, readonly: true, volume_context: context() });
const sha = async (file: string) => (await run('sha256sum', [file], { timeout: 10_000 })).stdout.split(' ')[0];
const pluginLog = () => plugin.logs().split('\n').filter((l) => !l.includes('csi call')).slice(-15).join('\n');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hoard-mountpods-'));
  await mkdir(join(root, 'dataset'), { recursive: true });
  const big = randomBytes(6 * 1024 * 1024 + 77);
  bigHash = createHash('sha256').update(big).digest('hex');
  await writeFile(join(root, 'dataset', 'big.bin'), big);
  await writeFile(join(root, 'dataset', 'note.txt'), 'from a mount pod\n');
  await mkdir(mountRoot(), { recursive: true });
  workers = await startWorkers(1, { ufs: [`data=file://${join(root, 'dataset')}`] });
  api = await startApiServer({
    kubelet: {
      processes: {
        match: (p: KObject) => p.metadata.labels?.['app.kubernetes.io/component'] === 'fuse',
        // Any image runs this checkout's hoard, except "hoard:broken", whose FUSE never starts.
        binary: (exe, image) => (image === 'hoard:broken' ? ['sh', '-c', 'echo "fuse: device not found" >&2; exit 3', 'sh'] : exe === 'hoard' ? [process.execPath, hoardBin()] : [exe]),
      },
    },
  });
  await installCrds(api.kubeConfig);
  await ensureNamespace(api.kubeConfig, NS);
  await ensureNamespace(api.kubeConfig, 'ml');
  api.objects.create({ apiVersion: 'data.hoard.dev/v1alpha1', kind: 'Dataset', metadata: { name: 'demo', namespace: 'ml' }, spec: { mounts: [{ name: 'data', uri: 'file:///srv/data' }] } });
  api.objects.create({
    apiVersion: 'data.hoard.dev/v1alpha1',
    kind: 'CacheRuntime',
    metadata: { name: 'demo', namespace: 'ml' },
    spec: { replicas: 1, tieredStore: { levels: [{ medium: 'MEM', quota: '64Mi' }] }, fuse: { resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } } } },
  });
  await startPodModePlugin('hoard:v1');
}, 60_000);

afterAll(async () => {
  csi?.close();
  await plugin?.kill('SIGTERM');
  await api?.stop();
  await forceCleanup(root);
  await workers?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('CSI node plugin, pod mode', () => {
  it('NodeStageVolume creates a mount pod and its Secret, waits for the FUSE mount and binds it; publish reads byte-exact', async () => {
    await mkdir(staging('vol-a'), { recursive: true });
    await csi.node.NodeStageVolume(stageReq('vol-a'));
    await csi.node.NodePublishVolume(publishReq('vol-a', 'pod-1'));
    expect(await sha(join(target('pod-1'), 'data', 'big.bin'))).toBe(bigHash);
    expect((await run('cat', [join(target('pod-1'), 'data', 'note.txt')])).stdout).toBe('from a mount pod\n');

    const [p] = fusePods();
    expect(p!.spec.nodeName).toBe(api.kubelet!.nodeName);
    expect(p!.spec.containers[0].image).toBe('hoard:v1');
    expect(p!.spec.containers[0].resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } });
    expect(p!.spec.priorityClassName).toBe('system-node-critical');
    expect(p!.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': 'demo', 'data.hoard.dev/dataset-namespace': 'ml' });
    expect(p!.status.phase).toBe('Running');
    const secret = api.objects.get({ apiVersion: 'v1', kind: 'Secret', namespace: NS, name: p!.metadata.name })!;
    expect(secret.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Pod', name: p!.metadata.name, uid: p!.metadata.uid })]);
    expect(Buffer.from(secret.data['data.secretAccessKey'], 'base64').toString()).toBe('not-in-argv-or-env');
    // The credential is a file in the pod: never in its spec, the process's argv or environment.
    expect(JSON.stringify(p)).not.toContain('not-in-argv-or-env');
    const pid = api.kubelet!.processes!.pidOf(NS, p!.metadata.name)!;
    expect(await readFile(`/proc/${pid}/cmdline`, 'utf8')).not.toContain('not-in-argv-or-env');
    expect(await readFile(`/proc/${pid}/environ`, 'utf8')).not.toContain('not-in-argv-or-env');
    // The FUSE mount lives in the mount pod's host directory, and the staging path is a bind of it.
    const mounts = await mountsUnder(root);
    expect(mounts.some((m) => m.startsWith(mountRoot()))).toBe(true);
    expect(mounts).toContain(staging('vol-a'));
    expect(events('MountPodCreated')).toHaveLength(1);
  });

  it('a plugin killed with SIGKILL and restarted on a new image leaves the mount pod alone while a reader reads byte-exact', async () => {
    const [before] = fusePods();
    const pid = api.kubelet!.processes!.pidOf(NS, before!.metadata.name);
    const file = join(target('pod-1'), 'data', 'big.bin');
    let reading = true;
    const hashes: string[] = [];
    const reader = (async () => {
      while (reading) hashes.push(await sha(file));
    })();
    try {
      await restartPlugin('SIGKILL', 'hoard:v2');
      await new Promise((r) => setTimeout(r, 1500));
      // The restarted plugin adopts: a repeated NodeStageVolume keeps the running pod on its image.
      await csi.node.NodeStageVolume(stageReq('vol-a'));
    } finally {
      reading = false;
      await reader;
    }
    expect(hashes.length).toBeGreaterThan(2);
    expect(new Set(hashes)).toEqual(new Set([bigHash]));
    const [after] = fusePods();
    expect(after!.metadata.uid).toBe(before!.metadata.uid);
    expect(after!.spec.containers[0].image).toBe('hoard:v1');
    expect(api.kubelet!.processes!.pidOf(NS, after!.metadata.name)).toBe(pid);
    expect(plugin.logs()).toContain('checking volumes recorded before the restart');
    const stats = await csi.node.NodeGetVolumeStats({ volume_id: 'vol-a', volume_path: target('pod-1') });
    expect(stats.volume_condition).toEqual({ abnormal: false, message: `mount pod ${after!.metadata.name} serves ${staging('vol-a')}` });
    expect((await csi.identity.Probe({})).ready).toEqual({ value: true });
  });

  it('the FUSE process killed: the kubelet restarts the mount pod, the plugin re-binds staging and the published target, with Events', async () => {
    const [p] = fusePods();
    const name = p!.metadata.name;
    const pid = api.kubelet!.processes!.pidOf(NS, name)!;
    process.kill(pid, 'SIGKILL');
    const file = join(target('pod-1'), 'data', 'big.bin');
    const hash = await waitFor(() => sha(file), 45_000, 'published target readable again').catch((err: Error) => {
      throw new Error(`${err.message}\nplugin log:\n${pluginLog()}`);
    });
    expect(hash).toBe(bigHash);
    expect(await sha(join(staging('vol-a'), 'data', 'big.bin'))).toBe(bigHash);
    const now = pod(name)!;
    expect(now.metadata.uid).toBe(p!.metadata.uid);
    expect(now.status.containerStatuses[0].restartCount).toBe(1);
    expect(now.status.containerStatuses[0].lastState.terminated.exitCode).toBe(137);
    expect(api.kubelet!.processes!.pidOf(NS, name)).not.toBe(pid);
    await waitFor(async () => events('FuseRecovered').length >= 2, 10_000, 'FuseRecovered events');
    const kinds = (reason: string) => events(reason).map((e) => `${e.involvedObject.kind}/${e.involvedObject.name}`).sort();
    expect(kinds('FuseRecovered')).toEqual(['Dataset/demo', `Pod/${name}`]);
    expect(events('FuseRecovered').find((e) => e.involvedObject.kind === 'Dataset')!.involvedObject.uid).toBe(api.objects.get({ apiVersion: 'data.hoard.dev/v1alpha1', kind: 'Dataset', namespace: 'ml', name: 'demo' })!.metadata.uid);
    expect(kinds('FuseFailed')).toEqual(['Dataset/demo', `Pod/${name}`]);
    const stats = await csi.node.NodeGetVolumeStats({ volume_id: 'vol-a', volume_path: target('pod-1') });
    expect(stats.volume_condition.abnormal).toBe(false);
  });

  it('a deleted mount pod is created again and the volume re-bound', async () => {
    const [p] = fusePods();
    api.objects.delete({ apiVersion: 'v1', kind: 'Pod', namespace: NS, name: p!.metadata.name });
    await waitFor(async () => fusePods().some((q) => q.metadata.uid !== p!.metadata.uid && q.status?.phase === 'Running'), 30_000, 'mount pod recreated');
    expect(await waitFor(() => sha(join(target('pod-1'), 'data', 'big.bin')), 45_000, 'readable after recreation')).toBe(bigHash);
    // Recreated by this plugin: with today's image, and its Secret again (the old one went with the old pod).
    expect(fusePods()[0]!.spec.containers[0].image).toBe('hoard:v2');
    expect(api.objects.get({ apiVersion: 'v1', kind: 'Secret', namespace: NS, name: p!.metadata.name })).toBeDefined();
  });

  it('NodeUnstageVolume deletes the mount pod and its Secret and leaves no mount behind', async () => {
    await csi.node.NodeUnpublishVolume({ volume_id: 'vol-a', target_path: target('pod-1') });
    const name = fusePods()[0]!.metadata.name;
    await csi.node.NodeUnstageVolume({ volume_id: 'vol-a', staging_target_path: staging('vol-a') });
    expect(fusePods()).toEqual([]);
    expect(api.objects.get({ apiVersion: 'v1', kind: 'Secret', namespace: NS, name })).toBeUndefined();
    expect(await mountsUnder(root)).toEqual([]);
    await waitFor(async () => api.kubelet!.processes!.pidOf(NS, name) === undefined, 10_000, 'mount pod process gone');
  });

  it('a stray mount pod no staged volume uses is deleted when the plugin starts', async () => {
    const config = parseVolumeContext(context());
    const stray = buildMountPod({
      volumeId: 'vol-stray', nodeName: api.kubelet!.nodeName, namespace: NS, image: 'hoard:v1', priorityClassName: '',
      hostDir: join(mountRoot(), 'stray'), stagingPath: staging('vol-stray'), config, secretName: 'stray', credentialFields: credentialFields(new Map()),
    });
    api.objects.create(stray as unknown as KObject);
    await restartPlugin('SIGTERM', 'hoard:v2');
    await waitFor(async () => fusePods().length === 0, 30_000, 'stray mount pod deleted');
    expect(plugin.logs()).toContain('deleting a mount pod no staged volume uses');
  });

  it("gives a mount pod no host path the operator's rule refuses, whoever wrote the volume context (INVALID_ARGUMENT, nothing created)", async () => {
    // What an older operator, a view copied before the rule, or a hand-written PV could carry.
    const withHostPath = (path: string) => ({
      ...context(),
      mounts: JSON.stringify({ mounts: [{ name: 'data', uri: 'file:///hoard/ufs/data', volume: { name: 'ufs-0', mountPath: '/hoard/ufs/data', source: { hostPath: { path, type: 'Directory' } } } }] }),
    });
    const stage = (path: string) => csi.node.NodeStageVolume({ ...stageReq('vol-hp'), volume_context: withHostPath(path) });
    api.objects.create({
      apiVersion: 'data.hoard.dev/v1alpha1', kind: 'CacheRuntime', metadata: { name: 'tiered', namespace: 'ml' },
      spec: { replicas: 1, tieredStore: { levels: [{ medium: 'MEM', quota: '64Mi' }, { medium: 'SSD', quota: '1Gi', path: join(root, 'allowed', 'ssd') }] } },
    });
    await mkdir(staging('vol-hp'), { recursive: true });
    const cases: [string, RegExp][] = [
      ['/etc', /mounts\[0\] "data": host path \/etc is \/etc \(the node's configuration/],
      ['/var/lib/kubelet/pods', /is inside \/var\/lib\/kubelet \(the kubelet's directory/],
      [join(root, 'kubelet', 'pods'), /is inside \S+\/kubelet \(the kubelet's directory/],
      [join(root, 'dataset'), /is outside the host paths the cluster admin allows/],
      [join(root, 'allowed'), /contains \S+\/allowed\/ssd \(a CacheRuntime's cache tier folder/],
    ];
    for (const [path, why] of cases) {
      const err = await codeOf(stage(path));
      expect(err.code, path).toBe(3);
      expect(err.details, path).toMatch(why);
      expect(err.details).toMatch(/chart value operator\.hostPathAllowList \(hoard csi --host-path-allow/);
    }
    expect(fusePods()).toEqual([]);
    expect(await mountsUnder(root)).toEqual([]);

    // A folder the admin allows reaches the mount pod as a read-only hostPath, as before.
    await mkdir(join(root, 'allowed', 'data'), { recursive: true });
    await stage(join(root, 'allowed', 'data'));
    const [p] = fusePods();
    expect(p!.spec.volumes).toContainEqual({ name: 'ufs-0', hostPath: { path: join(root, 'allowed', 'data'), type: 'Directory' } });
    expect(p!.spec.containers[0].volumeMounts).toContainEqual({ name: 'ufs-0', mountPath: '/hoard/ufs/data', readOnly: true });
    await csi.node.NodeUnstageVolume({ volume_id: 'vol-hp', staging_target_path: staging('vol-hp') });
    expect(fusePods()).toEqual([]);
  });

  it('a mount pod whose FUSE never comes up fails NodeStageVolume within the bound, naming its state, and is cleaned up', async () => {
    await restartPlugin('SIGTERM', 'hoard:broken', ['--mount-timeout', '4']);
    await mkdir(staging('vol-bad'), { recursive: true });
    const err = await codeOf(csi.node.NodeStageVolume(stageReq('vol-bad')));
    expect(err.code).toBe(13);
    expect(err.details).toContain('did not mount');
    expect(err.details).toMatch(/restarts [1-9]/);
    expect(err.details).toContain('fuse: device not found');
    expect(fusePods()).toEqual([]);
    expect(await mountsUnder(root)).toEqual([]);
  });
});
