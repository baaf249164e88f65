import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hoardBin } from '../../lib/root.js';
import { startWorkers } from '../support/workers.js';

/** A mounted file system under test; `root` is where the benchmark's bucket content appears. */
export interface BenchMount {
  name: string;
  root: string;
  stop(): Promise<void>;
}

export interface S3Target {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}

async function isMounted(dir: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((l) => l.split(' ')[1] === dir);
}

async function waitMounted(dir: string, child: ChildProcess, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before mounting`);
    if (await isMounted(dir)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not mount ${dir} within ${timeoutMs / 1000}s`);
}

async function stopChild(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  spawnSync('fusermount', ['-uz', dir], { stdio: 'ignore' });
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export async function mountHoard(work: string, s3: S3Target, workers = 2): Promise<BenchMount> {
  const dir = join(work, 'mnt-hoard');
  await mkdir(dir, { recursive: true });
  const mountsFile = join(work, 'hoard-mounts.json');
  const table = { mounts: [{ name: 'bench', uri: `s3://${s3.bucket}`, options: { endpoint: s3.endpoint, region: 'us-east-1', pathStyle: 'true' } }] };
  await writeFile(mountsFile, JSON.stringify(table));
  const env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
  const group = await startWorkers(workers, { mountsFile, cacheRoot: join(work, 'hoard-cache'), mem: '1Gi', disk: '4Gi', env });
  const child = spawn(
    process.execPath,
    [hoardBin(), 'mount', dir, '--workers', group.addresses().join(','), '--mounts-file', mountsFile, '--kernel-cache', '--attr-timeout', '60', '--entry-timeout', '60'],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env, HOARD_LOG_LEVEL: 'warn' } },
  );
  await waitMounted(dir, child, 'hoard mount');
  return {
    name: 'hoard',
    root: join(dir, 'bench'),
    stop: async () => {
      await stopChild(child, dir);
      await group.stop();
    },
  };
}

export async function mountS3fs(work: string, s3: S3Target): Promise<BenchMount | undefined> {
  if (!which('s3fs')) return undefined;
  const dir = join(work, 'mnt-s3fs');
  await mkdir(dir, { recursive: true });
  const passwd = join(work, 's3fs.passwd');
  await writeFile(passwd, `${s3.accessKeyId}:${s3.secretAccessKey}\n`, { mode: 0o600 });
  const cache = join(work, 's3fs-cache');
  await mkdir(cache, { recursive: true });
  const child = spawn(
    's3fs',
    [s3.bucket, dir, '-f', '-o', `url=${s3.endpoint}`, '-o', 'use_path_request_style', '-o', `passwd_file=${passwd}`, '-o', `use_cache=${cache}`, '-o', 'parallel_count=8', '-o', 'multireq_max=16'],
    { stdio: 'ignore' },
  );
  await waitMounted(dir, child, 's3fs');
  return { name: 's3fs', root: dir, stop: () => stopChild(child, dir) };
}

export async function mountRclone(work: string, s3: S3Target): Promise<BenchMount | undefined> {
  if (!which('rclone')) return undefined;
  const dir = join(work, 'mnt-rclone');
  await mkdir(dir, { recursive: true });
  const child = spawn(
    'rclone',
    ['mount', `:s3:${s3.bucket}`, dir, '--vfs-cache-mode', 'full', '--cache-dir', join(work, 'rclone-cache'), '--s3-provider', 'Other', '--s3-endpoint', s3.endpoint, '--s3-force-path-style', '--dir-cache-time', '60s'],
    { stdio: 'ignore', env: { ...process.env, RCLONE_S3_ACCESS_KEY_ID: s3.accessKeyId, RCLONE_S3_SECRET_ACCESS_KEY: s3.secretAccessKey, RCLONE_CONFIG: '/dev/null' } },
  );
  await waitMounted(dir, child, 'rclone mount');
  return { name: 'rclone', root: dir, stop: () => stopChild(child, dir) };
}

export async function mountCeiling(work: string, bigBytes: number, smallCount: number, smallBytes: number): Promise<BenchMount> {
  const dir = join(work, 'mnt-memfs');
  await mkdir(dir, { recursive: true });
  const script = new URL('./memfs-main.js', import.meta.url).pathname;
  const child = spawn(process.execPath, [script, dir, String(bigBytes), String(smallCount), String(smallBytes)], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitMounted(dir, child, 'in-memory fuse-native fs', 60_000);
  return { name: 'fuse ceiling', root: dir, stop: () => stopChild(child, dir) };
}
