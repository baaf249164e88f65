import { Command } from 'commander';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createLogger } from '../../lib/log.js';
import { mountTableFromArgs, type MountTable } from '../../lib/mounts.js';
import { formatSize, parseSize } from '../../lib/units.js';
import { detachMount, isMountPoint, prepareMountPoint } from '../../csi/fuse/stale-mount.js';
import { statRamFs } from '../../worker/store/short-circuit.js';
import { ensureSampleDataset } from '../sample.js';
import { startHoardChild, stopChild, type Child } from './up-children.js';
import { checkStoresOrStop } from './mount-check.js';
import { checkQuotas } from './up-quotas.js';
import { keepWorkerAlive } from './up-restart.js';

interface UpFlags {
  ufs?: string[];
  mount?: string;
  workers: string;
  cacheDir?: string;
  mem: string;
  disk: string;
  pageSize: string;
  kernelCache?: boolean;
  /** A directory, or false for --no-ram-disk. */
  ramDisk?: string | false;
  allowUnready?: boolean;
  json?: boolean;
}

const uid = process.getuid?.() ?? 0;
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;

export function defaultCacheDir(): string {
  return process.env.HOME ? join(homedir(), '.hoard') : `/tmp/hoard-${uid}`;
}

export function defaultMountDir(): string {
  return `/tmp/hoard-${uid}/mnt`;
}

function say(msg: string): void {
  process.stderr.write(`hoard up: ${msg}\n`);
}

interface UpPlan {
  cacheDir: string;
  mountDir: string;
  workers: number;
  mem: number;
  disk: number;
  pageSize: number;
  /** Where the workers keep their memory tier as page files (tmpfs), if they do. */
  ramDisk: string | undefined;
  /** True when hoard up chose ramDisk itself (and may remove the directory, not just its workers' folders). */
  ownRamDisk: boolean;
}

/**
 * /dev/shm/hoard-<uid>/<cache dir digest> (one per cache dir, so two `hoard up`s never share it)
 * when /dev/shm is a RAM file system with room for every worker's memory tier; otherwise none,
 * and the memory tier stays in the workers' heap (a container's 64 MiB /dev/shm, say).
 */
function defaultRamDisk(cacheDir: string, bytes: number): string | undefined {
  try {
    const st = statRamFs('/dev/shm');
    if (!st.ram || st.freeBytes < bytes) return undefined;
  } catch {
    return undefined;
  }
  return join('/dev/shm', `hoard-${uid}`, createHash('sha256').update(cacheDir).digest('hex').slice(0, 12));
}

function plan(flags: UpFlags): UpPlan {
  const workers = Number(flags.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new Error(`--workers: "${flags.workers}" must be a whole number from 1 to 64`);
  const mem = parseSize(flags.mem, '--mem');
  const disk = parseSize(flags.disk, '--disk');
  if (mem === 0 && disk === 0) throw new Error('--mem and --disk are both 0; give each worker some cache, e.g. --mem 256Mi');
  const pageSize = parseSize(flags.pageSize, '--page-size');
  if (pageSize < 4096) throw new Error(`--page-size: ${flags.pageSize} is below 4Ki; use e.g. 1Mi`);
  const cacheDir = resolve(flags.cacheDir ?? defaultCacheDir());
  const ramDisk = flags.ramDisk === false || mem === 0 ? undefined : flags.ramDisk ? chosenRamDisk(flags.ramDisk) : defaultRamDisk(cacheDir, workers * mem);
  const shm = flags.ramDisk === undefined && mem > 0 && ramDisk === undefined ? shmFree() : undefined;
  for (const w of checkQuotas({ workers, mem, disk, cacheDir, ramDisk: flags.ramDisk && ramDisk ? { dir: ramDisk, freeBytes: statRamFs(ramDisk).freeBytes, chosen: true } : undefined, shmFreeBytes: shm })) say(`warning: ${w}`);
  return { cacheDir, mountDir: resolve(flags.mount ?? defaultMountDir()), workers, mem, disk, pageSize, ramDisk, ownRamDisk: ramDisk !== undefined && !flags.ramDisk };
}

/** Free bytes of /dev/shm when it is a RAM file system (where the memory tier would have gone). */
function shmFree(): number | undefined {
  try {
    const st = statRamFs('/dev/shm');
    return st.ram ? st.freeBytes : undefined;
  } catch {
    return undefined;
  }
}

/** The user's --ram-disk, checked before any worker starts: it must be on tmpfs or ramfs. */
function chosenRamDisk(raw: string): string {
  const dir = resolve(raw);
  mkdirSync(dir, { recursive: true });
  const st = statRamFs(dir);
  if (!st.ram) throw new Error(`--ram-disk: ${dir} is not on tmpfs or ramfs (file system type 0x${st.type.toString(16)}); use a directory under /dev/shm, or --no-ram-disk`);
  return dir;
}

async function mountTable(flags: UpFlags, cacheDir: string): Promise<{ table: MountTable; what: string }> {
  if (flags.ufs?.length) return { table: mountTableFromArgs(flags.ufs), what: flags.ufs.join(', ') };
  const sample = await ensureSampleDataset(join(cacheDir, 'sample'));
  say(`${sample.created ? 'created' : 'reusing'} the sample dataset (${sample.files} files, ${formatSize(sample.bytes)}) in ${sample.dir}`);
  return { table: { mounts: [{ name: 'sample', uri: pathToFileURL(sample.dir).href }] }, what: 'the sample dataset' };
}

/** A restarted worker takes its predecessor's ports (`listen`, `http` from its ready line). */
function workerArgs(i: number, p: UpPlan, mountsFile: string, listen = '127.0.0.1:0', http = '127.0.0.1:0'): string[] {
  const args = ['worker', '--id', `worker-${i}`, '--listen', listen, '--http', http, '--mounts-file', mountsFile, '--page-size', String(p.pageSize)];
  if (p.mem > 0) args.push('--tier', p.ramDisk ? `MEM:${join(p.ramDisk, `worker-${i}`)}:${p.mem}` : `MEM:${p.mem}`);
  if (p.disk > 0) args.push('--tier', `SSD:${join(p.cacheDir, 'workers', `worker-${i}`)}:${p.disk}`);
  return args;
}

/** Starts workers and the FUSE mount, then stays up until SIGINT/SIGTERM or a child dies. */
async function runUp(flags: UpFlags): Promise<void> {
  const p = plan(flags);
  const json = !!flags.json || !process.stdout.isTTY;
  const logs = join(p.cacheDir, 'logs');
  await mkdir(logs, { recursive: true });
  const { table, what } = await mountTable(flags, p.cacheDir);
  await checkStoresOrStop(table, !!flags.allowUnready, say);
  const mountsFile = join(p.cacheDir, 'mounts.json');
  await writeFile(mountsFile, JSON.stringify(table, null, 2) + '\n');

  const workers: Child[] = [];
  let mount: Child | undefined;
  let stopping = false;
  const stopAll = async (reason: string, code: number) => {
    if (stopping) return;
    stopping = true;
    say(`stopping (${reason})`);
    if (mount) await stopChild(mount, STOP_GRACE_MS);
    // A mount process killed hard leaves its mount behind: never hand the user a dead directory.
    // Only ours, though: before our mount came up, whatever is mounted there belongs to someone else.
    if (mount && (await isMountPoint(p.mountDir))) await detachMount(p.mountDir).catch(() => undefined);
    await Promise.all(workers.map((w) => stopChild(w, STOP_GRACE_MS)));
    // RAM-disk pages are memory: give it back, as a stopped worker gives back its heap. Only the
    // workers' own folders go: a --ram-disk directory may hold things that are not ours.
    if (p.ramDisk) await removeRamDisk(p.ramDisk, p.workers, p.ownRamDisk);
    say(mount ? `unmounted ${p.mountDir} and stopped ${workers.length} worker(s)` : `stopped ${workers.length} worker(s); nothing was mounted`);
    if (json) process.stdout.write(JSON.stringify({ event: 'stopped', dir: p.mountDir }) + '\n');
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll('SIGINT', 0));
  process.on('SIGTERM', () => void stopAll('SIGTERM', 0));

  try {
    // Refuse a live mount point before anything starts (the mount would refuse it later anyway,
    // after the workers came up for nothing).
    await prepareMountPoint(p.mountDir);
    const memWhere = p.ramDisk ? ` on the RAM disk ${p.ramDisk}, read directly by the mount` : '';
    say(`starting ${p.workers} worker(s) (cache per worker: ${formatSize(p.mem)} memory${memWhere}, ${formatSize(p.disk)} disk in ${join(p.cacheDir, 'workers')}); logs in ${logs}`);
    const started = await Promise.all(
      Array.from({ length: p.workers }, (_, i) =>
        startHoardChild(`worker-${i}`, workerArgs(i, p, mountsFile), join(logs, `worker-${i}.log`), 'listening', READY_TIMEOUT_MS).then((w) => {
          workers.push(w);
          say(`worker-${i} listening on ${String(w.ready.grpc)}`);
          return w;
        }),
      ),
    );
    const list = started.map((w, i) => `worker-${i}=${String(w.ready.grpc)}`).join(',');
    const mountArgs = ['mount', p.mountDir, '--workers', list, '--mounts-file', mountsFile];
    if (flags.kernelCache !== false) mountArgs.push('--kernel-cache');
    // The mounts were checked above (and --allow-unready decided there): do not check twice.
    mountArgs.push('--allow-unready');
    say(`mounting ${p.mountDir}`);
    mount = await startHoardChild('mount', mountArgs, join(logs, 'mount.log'), 'mounted', READY_TIMEOUT_MS);
  } catch (err) {
    say(`failed to start: ${(err as Error).message}`);
    await stopAll('start-up failed', 1);
    return;
  }
  // A worker that dies is restarted on its ports (the mount fails over meanwhile); the mount
  // itself is what the user holds, so losing it stops everything.
  const logger = createLogger('up');
  const restart = (prev: Child): Promise<Child> => {
    const i = Number(prev.name.slice('worker-'.length));
    return startHoardChild(prev.name, workerArgs(i, p, mountsFile, String(prev.ready.grpc), String(prev.ready.http)), prev.logFile, 'listening', READY_TIMEOUT_MS);
  };
  const restarted = (child: Child): void => {
    // stopAll may have run while this child started: it was not there to be stopped.
    if (stopping) void stopChild(child, STOP_GRACE_MS);
    else if (json) process.stdout.write(JSON.stringify({ event: 'worker-restarted', worker: child.name, pid: child.proc.pid }) + '\n');
  };
  for (let i = 0; i < workers.length; i++) void keepWorkerAlive(workers, i, restart, () => stopping, logger, restarted);
  const m = mount;
  void m.exited.then((code) => stopAll(`${m.name} exited unexpectedly (code ${code}); see ${m.logFile}`, 1));

  const names = table.mounts.map((m) => `${p.mountDir}/${m.name}`);
  if (json) {
    process.stdout.write(JSON.stringify({ event: 'mounted', dir: p.mountDir, mounts: names, workers: list(workers), pids: [...workers, mount].map((c) => c.proc.pid), mountsFile, logs, pid: process.pid }) + '\n');
  } else {
    process.stdout.write(
      `\nHoard is up: ${what} is mounted at ${p.mountDir}\n` +
        `  try:      ls ${names[0]}\n` +
        `  workers:  ${workers.length} on 127.0.0.1 (logs in ${logs})\n` +
        `  stop:     press Ctrl-C (unmounts and stops the workers)\n\n`,
    );
  }
}

async function removeRamDisk(dir: string, workers: number, own: boolean): Promise<void> {
  await Promise.all(Array.from({ length: workers }, (_, i) => rm(join(dir, `worker-${i}`), { recursive: true, force: true }).catch(() => undefined)));
  if (own) await rmdir(dir).catch(() => undefined);
}

function list(workers: Child[]): string[] {
  return workers.map((w) => `${w.name}=${String(w.ready.grpc)}`);
}

export function upCommand(): Command {
  return new Command('up')
    .description('Cache a bucket or folder on this machine: start local workers and mount the data with FUSE (Ctrl-C stops)')
    .option('--ufs <uri>', 'storage to cache, repeatable: s3://bucket/prefix, file:///abs/path, https://host/path, or name=uri (default: a sample dataset)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--mount <dir>', `where the data appears (default ${defaultMountDir()})`)
    .option('--workers <n>', 'local cache workers to start', '2')
    .option('--cache-dir <dir>', `cache pages, logs, mount table and the sample dataset (default ${defaultCacheDir()})`)
    .option('--mem <size>', 'memory cache per worker (0 = none)', '256Mi')
    .option('--ram-disk <dir>', 'keep the memory cache as page files in this tmpfs directory, which the mount reads directly; the workers\' folders in it are removed at exit (default: a directory under /dev/shm when it is tmpfs with room)')
    .option('--no-ram-disk', 'keep the memory cache in the workers\' heap; every read then goes through a worker')
    .option('--disk <size>', 'disk cache per worker, under --cache-dir (0 = none)', '1Gi')
    .option('--page-size <size>', 'cache page size', '1Mi')
    .option('--no-kernel-cache', 'drop file pages from the kernel page cache at every open (default: keep them while mtime/size are unchanged, so re-reads run at memory speed)')
    .option('--allow-unready', 'start even when a mount cannot be read at start (missing bucket, refused credentials, unreachable server); its directory stays unreadable until the storage answers')
    .option('--json', 'print JSON events on stdout (the default when stdout is not a terminal)')
    .addHelpText(
      'after',
      `
S3 credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE) or
~/.aws, never from the command line. Endpoint and region ride on the URI as a query:
  hoard up --ufs 's3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1&pathStyle=true'
Examples:
  hoard up                                 # serve a generated sample dataset
  hoard up --ufs file:///data --mount ~/data-cached --workers 4 --mem 1Gi --disk 20Gi
`,
    )
    .action(runUp);
}
