// The container image: built from the Dockerfile by `npm run image` with buildah (chroot isolation,
// vfs storage; local stand-ins for the Node base images where no registry answers), then every
// long-running command is started from inside it, as a cluster would: `hoard worker` serves a file
// over gRPC and its probes over HTTP, `hoard csi` answers on its unix socket (and its Probe finds
// /dev/fuse and every tool it runs), `hoard mount` serves a real FUSE mount from the image that
// host tools read, and the other commands print their help.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/root.js';
import { csiClient, forceCleanup, startPlugin, waitFor, type PluginProcess } from './support/csi.js';
import { rawWorkerClient, startWorkers, type WorkerGroup } from './support/workers.js';

const exec = promisify(execFile);
const CACHE = process.env.HOARD_IMAGE_CACHE ?? '/var/cache/hoard-image';
// A storage of the test's own, kept between runs: the stand-in bases and the npm ci layer stay cached.
const STORAGE = join(CACHE, 'buildah');
const TAG = 'localhost/hoard:test';
const BUILD_TIMEOUT_MS = 30 * 60_000;
const bh = ['--storage-driver', 'vfs', '--root', join(STORAGE, 'storage'), '--runroot', join(STORAGE, 'run')];

async function has(tool: string): Promise<boolean> {
  return exec('sh', ['-c', `command -v ${tool}`]).then(
    () => true,
    () => false,
  );
}
const missing = (await Promise.all(['buildah', 'debootstrap'].map(async (t) => ((await has(t)) ? '' : t)))).filter(Boolean);
const notRoot = process.getuid?.() !== 0;
// Under CI the image test must run: missing tools fail it instead of skipping it.
const skip = process.env.CI !== 'true' && (missing.length > 0 || notRoot);

let dir: string;
let ctr = '';
let buildLog = '';

/**
 * `buildah run` in the image's working container: what runs `hoard` from inside the image. It sees
 * the host's /dev (so /dev/fuse) and network; `privileged` adds CAP_SYS_ADMIN for FUSE mounts,
 * as a mount pod is privileged.
 */
function inImage(volumes: string[] = [], privileged = false): string[] {
  const caps = privileged ? ['--cap-add', 'CAP_SYS_ADMIN'] : [];
  return ['buildah', ...bh, 'run', '--isolation', 'chroot', ...caps, ...volumes.flatMap((v) => ['-v', v]), ctr, '--', 'hoard'];
}

async function runInImage(args: string[], command = 'hoard'): Promise<{ stdout: string; stderr: string }> {
  const [cmd, ...lead] = inImage();
  return exec(cmd, [...lead.slice(0, -1), command, ...args], { timeout: 60_000 });
}

/** The pid of the process whose command line holds marker (a process started inside the image). */
async function pidWith(marker: string): Promise<number | undefined> {
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    const argv = cmd.split('\0');
    if (argv.includes(marker) && /(^|\/)node$/.test(argv[0])) return Number(name);
  }
  return undefined;
}

describe.skipIf(skip)('the image (built with buildah, every command started from it)', () => {
  beforeAll(async () => {
    if (missing.length) throw new Error(`the image test needs ${missing.join(' and ')}: apt-get install -y buildah debootstrap (.ci/run does)`);
    if (notRoot) throw new Error('the image test needs root (buildah with vfs storage, debootstrap)');
    dir = await mkdtemp(join(tmpdir(), 'hoard-image-'));
    const started = Date.now();
    const build = spawn(join(packageRoot(), 'image', 'build.sh'), ['--engine', 'buildah', '--base', 'local', '--root', STORAGE, '--tag', TAG], {
      cwd: packageRoot(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    build.stdout.on('data', (d: Buffer) => (buildLog += d.toString()));
    build.stderr.on('data', (d: Buffer) => (buildLog += d.toString()));
    const code = await new Promise<number | null>((ok) => build.once('exit', ok));
    if (code !== 0) throw new Error(`npm run image failed (exit ${code}):\n${buildLog.slice(-6000)}`);
    console.log(`image built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    ctr = (await exec('buildah', [...bh, 'from', '--pull=never', TAG])).stdout.trim();
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    if (dir) await forceCleanup(dir);
    if (ctr) await exec('buildah', [...bh, 'rm', ctr]).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('holds fusermount (fuse3, not fuse), libfuse2, the tools the CSI plugin runs, and no build-machine CA', async () => {
    const script = "fusermount -V; for t in fusermount mount umount stat realpath; do command -v $t; done; dpkg-query -W -f '${Package} ${Status}\\n' fuse3 libfuse2 fuse 2>&1; true";
    const { stdout } = await runInImage(['-c', script], 'sh');
    expect(stdout).toMatch(/fusermount3 version: 3\./);
    expect(stdout).toMatch(/^fuse3 install ok installed$/m);
    expect(stdout).toMatch(/^libfuse2 install ok installed$/m);
    expect(stdout).not.toMatch(/^fuse install ok installed$/m);
    for (const tool of ['fusermount', 'mount', 'umount', 'stat', 'realpath']) expect(stdout).toMatch(new RegExp(`^/usr/bin/${tool}$`, 'm'));
    // The CA bundle reached npm ci as a build secret: nothing of it in the image's config or files.
    const config = JSON.stringify((JSON.parse((await exec('buildah', [...bh, 'inspect', '--type', 'image', TAG])).stdout) as { OCIv1: { config: unknown } }).OCIv1.config);
    expect(config).not.toMatch(/NODE_EXTRA_CA_CERTS|cafile|npm-ca|ca-certificates\.crt/i);
    const leftovers = await runInImage(['-c', 'ls /run/secrets 2>/dev/null; ls /app'], 'sh');
    expect(leftovers.stdout.split('\n').filter(Boolean).sort()).toEqual(['crds', 'csi', 'dist', 'node_modules', 'package.json', 'worker']);
  });

  it('runs hoard worker: it serves a file over gRPC and answers /readyz on loopback', async () => {
    const data = join(dir, 'data');
    await mkdir(data, { recursive: true });
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(join(data, 'blob.bin'), bytes);
    const workers: WorkerGroup = await startWorkers(1, { ufs: ['data=file:///data'], disk: '0', command: inImage([`${data}:/data:ro`]) });
    try {
      const ready = await fetch(`http://${workers.workers[0].http}/readyz`);
      expect(ready.status).toBe(200);
      const client = rawWorkerClient(workers.addresses()[0]);
      try {
        expect((await client.stat('/data/blob.bin')).size).toBe(bytes.length);
        const got = await client.read('/data/blob.bin', 0, bytes.length);
        expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
      } finally {
        client.close();
      }
    } finally {
      await workers.stop();
    }
  });

  it('runs hoard csi: its unix socket answers GetPluginInfo and Probe over real gRPC', async () => {
    const sock = join(dir, 'csi');
    await mkdir(sock, { recursive: true });
    let plugin: PluginProcess | undefined;
    try {
      plugin = await startPlugin({ dir: sock, endpointDir: '/csi', stateDir: '/var/lib/hoard-csi', command: inImage([`${sock}:/csi`]) });
      const csi = csiClient(plugin.socket);
      try {
        const info = await csi.identity.GetPluginInfo({});
        expect(info.name).toBe('csi.hoard.dev');
        expect(info.vendor_version).toBe(JSON.parse(await readFile(join(packageRoot(), 'package.json'), 'utf8')).version);
        // Probe checks /dev/fuse and runs every tool the plugin needs (fusermount, mount, ...).
        const probe = await csi.identity.Probe({});
        expect(probe.ready?.value ?? probe.ready).toBe(true);
      } finally {
        csi.close();
      }
    } finally {
      await plugin?.kill();
    }
  });

  it('runs hoard mount: a FUSE mount served from the image, read by host tools', async () => {
    const data = join(dir, 'mount-data');
    await mkdir(join(data, 'sub'), { recursive: true });
    const bytes = randomBytes(2 * 1024 * 1024 + 5);
    await writeFile(join(data, 'sub', 'f.bin'), bytes);
    const workers = await startWorkers(1, { ufs: ['data=file:///data'], disk: '0', command: inImage([`${data}:/data:ro`]) });
    // The mount lives in the container's mount namespace; host tools reach it through the mount
    // process's root (/proc/<pid>/root), as the CSI plugin reaches a mount pod's through the host.
    const mnt = `/mnt/hoard-image-test-${process.pid}`;
    const [cmd, ...lead] = inImage([], true);
    const mount = spawn(cmd, [...lead, 'mount', mnt, '--workers', workers.addresses().join(',')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    mount.stderr.on('data', (d: Buffer) => (log += d.toString()));
    mount.stdout.on('data', (d: Buffer) => (log += d.toString()));
    try {
      const pid = await waitFor(
        async () => {
          if (mount.exitCode !== null) throw new Error(`hoard mount exited with ${mount.exitCode}: ${log.slice(-2000)}`);
          const p = await pidWith(mnt);
          const mounts = p ? await readFile(`/proc/${p}/mountinfo`, 'utf8') : '';
          return new RegExp(` ${mnt} .* - fuse\\.hoard `).test(mounts) ? p : undefined;
        },
        30_000,
        'hoard mount from the image',
      );
      const inside = `/proc/${pid}/root${mnt}`;
      const { stdout } = await exec('sha256sum', [join(inside, 'data', 'sub', 'f.bin')]);
      expect(stdout.split(' ')[0]).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect((await exec('ls', [join(inside, 'data')])).stdout.trim()).toBe('sub');
    } finally {
      mount.kill('SIGTERM');
      await new Promise((ok) => (mount.exitCode === null && mount.signalCode === null ? mount.once('exit', ok) : ok(undefined)));
      await workers.stop();
    }
    // SIGTERM unmounts: nothing of hoard mount is left running.
    expect(await pidWith(mnt)).toBeUndefined();
  });

  it.each(['operator', 'load', 'mount', 'worker', 'csi'])('hoard %s --help runs from the image', async (command) => {
    const { stdout } = await runInImage([command, '--help']);
    expect(stdout).toContain(`Usage: hoard ${command}`);
  });
});
