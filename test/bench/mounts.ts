import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_READ_AHEAD_KB, setMountReadAhead } from '../../csi/fuse/read-ahead.js';
import { hoardBin } from '../../lib/root.js';
import { startWorkers } from '../support/workers.js';
import { benchFsOptions, hoardMountFlags } from './fs-options.js';

export { benchFsOptions, hoardMountFlags } from './fs-options.js';

/** A mounted file system under test; `root` is where the benchmark's bucket content appears. */
export interface BenchMount {
  name: string;
  root: string;
  /** stdout+stderr of the process serving the mount. */
  logFile: string;
  /** The process serving the mount. */
  pid?: number;
  stop(): Promise<void>;
}

/** How the benchmark's Hoard is set up (defaults: the FUSE passes' 2 workers with 1Gi MEM + 4Gi disk each). */
export interface HoardSetup {
  name?: string;
  workers?: number;
  mem?: string;
  /** Disk tier quota per worker; '0' = none. */
  disk?: string;
}

export interface S3Target {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}

// Everything started here, so a failed or interrupted run can take it all down (see cleanupAll).
const liveChildren = new Set<ChildProcess>();
const livePids = new Set<number>();
const liveDirs = new Set<string>();
const liveStops = new Set<() => Promise<void>>();

/** Stops every mount still up (children SIGTERM, then SIGKILL; fusermount -uz), in parallel. */
export async function cleanupAll(): Promise<void> {
  await Promise.allSettled([...liveStops].map((stop) => stop()));
  cleanupAllSync(false);
}

/** Our own child processes still alive (by /proc/<pid>/stat's ppid), e.g. workers started by worker-read.ts. */
function ownChildPids(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ...; comm may hold spaces, so parse after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * Last resort for process exit: SIGKILL whatever this run started that is still alive (tracked
 * children and workers, then any other direct child) and detach every mount point.
 */
export function cleanupAllSync(allChildren = true): void {
  for (const c of liveChildren) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const pid of [...livePids, ...(allChildren ? ownChildPids() : [])]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of liveDirs) spawnSync('fusermount', ['-uz', dir], { stdio: 'ignore' });
  liveChildren.clear();
  livePids.clear();
  liveDirs.clear();
}

/** The last `lines` lines of a log file, for error messages. */
export async function logTail(file: string, lines = 25): Promise<string> {
  try {
    const text = (await readFile(file, 'utf8')).trimEnd();
    return text ? text.split('\n').slice(-lines).join('\n') : '(empty)';
  } catch {
    return '(no log)';
  }
}

async function isMounted(dir: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((l) => l.split(' ')[1] === dir);
}

async function waitMounted(dir: string, child: ChildProcess, what: string, logFile: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let why = `did not mount ${dir} within ${timeoutMs / 1000}s`;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      why = `exited with ${child.exitCode ?? child.signalCode} before mounting`;
      break;
    }
    if (await isMounted(dir)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} ${why}; log ${logFile}:\n${await logTail(logFile)}`);
}

async function stopChild(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    }
  }
  if (await isMounted(dir)) spawnSync('fusermount', ['-uz', dir], { stdio: 'ignore' });
  liveChildren.delete(child);
  liveDirs.delete(dir);
}

/** Spawns a mount process with stdout+stderr going to `logFile`, tracked for cleanup. */
function spawnMount(cmd: string, args: string[], dir: string, logFile: string, env: NodeJS.ProcessEnv): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env });
    liveChildren.add(child);
    liveDirs.add(dir);
    child.once('error', () => undefined); // surfaces as an exit code through waitMounted
    return child;
  } finally {
    closeSync(fd);
  }
}

/** Waits for the mount; on failure stops the child (and anything else `extraStop` owns). */
async function finishMount(
  name: string,
  root: string,
  dir: string,
  child: ChildProcess,
  logFile: string,
  timeoutMs: number,
  extraStop: () => Promise<void> = async () => undefined,
): Promise<BenchMount> {
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      try {
        await stopChild(child, dir);
      } finally {
        await extraStop();
        liveStops.delete(stop);
      }
    })();
    return stopping;
  };
  liveStops.add(stop);
  try {
    await waitMounted(dir, child, name, logFile, timeoutMs);
    // Every FUSE mount of the run gets the kernel read-ahead Hoard's own mount sets, so peers
    // and the ceiling are measured with the same kernel tuning (it is not a Hoard-only trick).
    const problem = await setMountReadAhead(dir, benchFsOptions.readAheadKb ?? DEFAULT_READ_AHEAD_KB);
    if (problem) process.stderr.write(`[bench] ${name}: ${problem}\n`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { name, root, logFile, stop };
}

async function prepare(work: string, name: string): Promise<{ dir: string; logFile: string }> {
  const dir = join(work, `mnt-${name}`);
  await mkdir(dir, { recursive: true });
  await mkdir(join(work, 'logs'), { recursive: true });
  return { dir, logFile: join(work, 'logs', `${name}.log`) };
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** The environment for a peer (s3fs, rclone): no proxy for the local S3 server. */
function peerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost', ...extra };
  // rclone 1.60 (aws-sdk-go v1) fails to start whenever AWS_CA_BUNDLE is set: "LoadCustomCABundleError:
  // unable to load custom CA bundle, HTTPClient's transport unsupported type caused by: unsupported
  // transport, *fshttp.Transport". The endpoint is plain http, so the bundle is not needed anyway.
  delete env.AWS_CA_BUNDLE;
  return env;
}

export async function mountHoard(work: string, s3: S3Target, setup: HoardSetup = {}): Promise<BenchMount> {
  const name = setup.name ?? 'hoard';
  const { dir, logFile } = await prepare(work, name);
  const mountsFile = join(work, `${name}-mounts.json`);
  const table = { mounts: [{ name: 'bench', uri: `s3://${s3.bucket}`, options: { endpoint: s3.endpoint, region: 'us-east-1', pathStyle: 'true' } }] };
  await writeFile(mountsFile, JSON.stringify(table));
  const env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
  // As `hoard up` does: the MEM tier on a RAM disk the mount reads directly, unless
  // HOARD_BENCH_RAM_DISK=0 asks for the workers' heap (every read through a worker).
  const ramDisk = process.env.HOARD_BENCH_RAM_DISK === '0' ? undefined : await mkdtemp('/dev/shm/hoard-bench-');
  const group = await startWorkers(setup.workers ?? 2, { mountsFile, cacheRoot: join(work, `${name}-cache`), mem: setup.mem ?? '1Gi', disk: setup.disk ?? '4Gi', ramDisk, env });
  const pids = group.workers.map((w) => w.pid);
  for (const pid of pids) livePids.add(pid);
  const stopWorkers = async () => {
    await group.stop();
    for (const pid of pids) livePids.delete(pid);
    if (ramDisk) await rm(ramDisk, { recursive: true, force: true });
  };
  let child: ChildProcess;
  try {
    child = spawnMount(
      process.execPath,
      [hoardBin(), 'mount', dir, '--workers', group.addresses().join(','), '--mounts-file', mountsFile, ...hoardMountFlags(benchFsOptions)],
      dir,
      logFile,
      { ...process.env, ...env, HOARD_LOG_LEVEL: 'warn' },
    );
  } catch (err) {
    await stopWorkers();
    throw err;
  }
  const m = await finishMount(name, join(dir, 'bench'), dir, child, logFile, 30_000, stopWorkers);
  return { ...m, pid: child.pid };
}

/**
 * s3fs as a tuned user would run it for a read-mostly dataset: a disk cache (kept for the whole
 * mount, so the warm pass reads it), parallel ranged downloads, long stat caching including
 * misses, and the same kernel caching as the Hoard mount (auto_cache, 60 s attr/entry timeouts).
 */
export async function mountS3fs(work: string, s3: S3Target): Promise<BenchMount | undefined> {
  if (!which('s3fs')) return undefined;
  const { dir, logFile } = await prepare(work, 's3fs');
  const passwd = join(work, 's3fs.passwd');
  await writeFile(passwd, `${s3.accessKeyId}:${s3.secretAccessKey}\n`, { mode: 0o600 });
  const cache = join(work, 's3fs-cache');
  await mkdir(cache, { recursive: true });
  const opts = [
    `url=${s3.endpoint}`,
    'use_path_request_style',
    `passwd_file=${passwd}`,
    'ro',
    `use_cache=${cache}`, // no del_cache: the cache survives between passes
    'parallel_count=16', // parallel ranged GETs of one big object into the cache
    'multipart_size=16', // MiB per ranged GET
    'multireq_max=32', // parallel HEADs when listing a directory
    'stat_cache_expire=3600',
    'max_stat_cache_size=100000',
    'enable_noobj_cache',
    'auto_cache',
    'attr_timeout=60',
    'entry_timeout=60',
    'negative_timeout=60',
    'dbglevel=warn',
  ];
  const child = spawnMount('s3fs', [s3.bucket, dir, '-f', ...opts.flatMap((o) => ['-o', o])], dir, logFile, peerEnv());
  return finishMount('s3fs', dir, dir, child, logFile, 30_000);
}

/**
 * rclone with its full VFS cache (kept for the whole mount), tuned for a read-only dataset:
 * directory listings and attributes cached like the Hoard mount, object times taken from the
 * listing (no HEAD per file), no HEAD before GET, read-ahead into the cache.
 */
export async function mountRclone(work: string, s3: S3Target): Promise<BenchMount | undefined> {
  if (!which('rclone')) return undefined;
  const { dir, logFile } = await prepare(work, 'rclone');
  const args = [
    'mount',
    `:s3:${s3.bucket}`,
    dir,
    '--read-only',
    '--vfs-cache-mode',
    'full',
    '--cache-dir',
    join(work, 'rclone-cache'),
    '--vfs-cache-max-age',
    '24h',
    '--vfs-fast-fingerprint',
    '--vfs-read-ahead',
    '64M',
    '--use-server-modtime',
    '--dir-cache-time',
    '1h',
    '--attr-timeout',
    '60s',
    '--s3-provider',
    'Other',
    '--s3-endpoint',
    s3.endpoint,
    '--s3-region',
    'us-east-1',
    '--s3-force-path-style',
    '--s3-no-head-object',
    '--log-level',
    'NOTICE',
  ];
  const env = peerEnv({ RCLONE_CONFIG: '/dev/null', RCLONE_S3_ACCESS_KEY_ID: s3.accessKeyId, RCLONE_S3_SECRET_ACCESS_KEY: s3.secretAccessKey });
  const child = spawnMount('rclone', args, dir, logFile, env);
  return finishMount('rclone', dir, dir, child, logFile, 30_000);
}

/** The fuse ceiling: memfs-main.ts, mounted with benchFsOptions like the Hoard mount. */
export async function mountCeiling(work: string, bigBytes: number, smallCount: number, smallBytes: number): Promise<BenchMount> {
  const { dir, logFile } = await prepare(work, 'ceiling');
  const script = new URL('./memfs-main.js', import.meta.url).pathname;
  const child = spawnMount(process.execPath, [script, dir, String(bigBytes), String(smallCount), String(smallBytes)], dir, logFile, process.env);
  return finishMount('fuse ceiling', dir, dir, child, logFile, 60_000);
}
