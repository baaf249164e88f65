import { spawn } from 'node:child_process';
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hoardBin } from '../../lib/root.js';
import type { VolumeConfig } from '../server/validation.js';
import { mountAt } from './mounter.js';
import type { ChildRecord } from './state.js';

export interface FuseSpawnSpec {
  stagingPath: string;
  /** Per-volume directory: the child's stdout/stderr go to files here, not to the plugin. */
  volumeDir: string;
  mountsFile: string;
  config: VolumeConfig;
  /** Program and leading args that stand for `hoard` (default: this node binary + dist/bin/hoard.js). */
  command?: string[];
  readyTimeoutMs?: number;
}

/** The `hoard mount` arguments for one volume (contract: hoard mount <dir> ...). */
export function mountArgs(spec: Pick<FuseSpawnSpec, 'stagingPath' | 'mountsFile' | 'config'>): string[] {
  const c = spec.config;
  const args = ['mount', spec.stagingPath];
  if ('srv' in c.workers) args.push('--workers-srv', c.workers.srv);
  else args.push('--workers', c.workers.static.join(','));
  args.push('--mounts-file', spec.mountsFile);
  if (c.readOnly) args.push('--read-only');
  if (c.kernelCache) args.push('--kernel-cache');
  if (c.directIO) args.push('--direct-io');
  if (c.attrTimeoutSec !== undefined) args.push('--attr-timeout', String(c.attrTimeoutSec));
  if (c.entryTimeoutSec !== undefined) args.push('--entry-timeout', String(c.entryTimeoutSec));
  if (c.replication !== undefined) args.push('--replication', String(c.replication));
  // Pods run as arbitrary uids; without allow_other only root could read the volume.
  args.push('--allow-other');
  // A store that is down at stage time must not fail the pod's volume: the Dataset's condition
  // carries the workers' reason, and reads work once the store answers.
  args.push('--allow-unready');
  return args;
}

/** Start time of pid from /proc (field 22), or undefined when the process is gone or a zombie. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
    return rest[19];
  } catch {
    return undefined;
  }
}

/** True when the recorded child still runs (same pid and start time) and serves stagingPath. */
export async function isChildAlive(child: ChildRecord | undefined, stagingPath: string): Promise<boolean> {
  if (!child) return false;
  if ((await processStartTime(child.pid)) !== child.startTime) return false;
  try {
    const cmdline = (await readFile(`/proc/${child.pid}/cmdline`, 'utf8')).split('\0');
    return cmdline.includes(stagingPath);
  } catch {
    return false;
  }
}

async function tail(file: string, lines = 15): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Starts the FUSE child for one volume. It runs detached in its own process group with its
 * output in files, so it outlives a plugin restart (the new plugin adopts it) and never blocks
 * on a closed pipe. Resolves once the child reports the mount and the kernel lists it.
 */
export async function spawnFuseChild(spec: FuseSpawnSpec): Promise<ChildRecord> {
  const outFile = join(spec.volumeDir, 'fuse.out');
  const logFile = join(spec.volumeDir, 'fuse.log');
  const out = await open(outFile, 'w', 0o600);
  const log = await open(logFile, 'a', 0o600);
  const [cmd, ...lead] = spec.command ?? [process.execPath, hoardBin()];
  let exit: string | undefined;
  let child;
  try {
    child = spawn(cmd!, [...lead, ...mountArgs(spec)], {
      detached: true,
      stdio: ['ignore', out.fd, log.fd],
      env: { ...process.env, HOARD_VOLUME_DIR: spec.volumeDir },
    });
  } finally {
    await out.close();
    await log.close();
  }
  child.on('exit', (code, signal) => (exit = signal ? `signal ${signal}` : `exit code ${code}`));
  child.on('error', (err) => (exit = err.message));
  child.unref();
  const pid = child.pid;
  const deadline = Date.now() + (spec.readyTimeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (exit !== undefined || pid === undefined) {
      throw new Error(`hoard mount for ${spec.stagingPath} stopped (${exit ?? 'no pid'}) before mounting:\n${await tail(logFile)}`);
    }
    const said = (await readFile(outFile, 'utf8').catch(() => '')).includes('"mounted"');
    const entry = said ? await mountAt(spec.stagingPath) : undefined;
    if (entry && entry.fsType.startsWith('fuse')) {
      const startTime = await processStartTime(pid);
      if (startTime) return { pid, startTime };
    }
    await sleep(50);
  }
  if (pid !== undefined) {
    const startTime = await processStartTime(pid);
    if (startTime) await stopFuseChild({ pid, startTime }, spec.stagingPath, 2000);
  }
  throw new Error(`hoard mount for ${spec.stagingPath} did not mount within ${spec.readyTimeoutMs ?? 30_000} ms:\n${await tail(logFile)}`);
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Stops a child: SIGTERM (it unmounts cleanly), then SIGKILL to its group after a grace period. */
export async function stopFuseChild(child: ChildRecord, stagingPath: string, graceMs = 5000): Promise<void> {
  if (!(await isChildAlive(child, stagingPath))) return;
  signalGroup(child.pid, 'SIGTERM');
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if (!(await isChildAlive(child, stagingPath))) return;
    await sleep(50);
  }
  signalGroup(child.pid, 'SIGKILL');
  const hard = Date.now() + 3000;
  while (Date.now() < hard && (await isChildAlive(child, stagingPath))) await sleep(50);
}

/**
 * Every process whose command line is `... mount <stagingPath> ...`: children a crashed plugin
 * started but never recorded. Unstage and heal stop them too, so nothing outlives its volume.
 */
export async function findServingProcesses(stagingPath: string): Promise<ChildRecord[]> {
  const found: ChildRecord[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let args: string[];
    try {
      args = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0');
    } catch {
      continue;
    }
    const i = args.indexOf('mount');
    if (i < 0 || args[i + 1] !== stagingPath || !args.includes('--mounts-file')) continue;
    const startTime = await processStartTime(Number(name));
    if (startTime) found.push({ pid: Number(name), startTime });
  }
  return found;
}
