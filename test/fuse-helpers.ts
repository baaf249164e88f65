// Shared by the FUSE tests: a DataClient over a real folder (so the FUSE layer can be tested on its
// own, with real tools reading a real mount), and small process helpers.
import { execFile, spawn, type ChildProcess, type ExecFileOptions } from 'node:child_process';
import { createInterface } from 'node:readline';
import { hoardBin } from '../lib/root.js';
import { createHash } from 'node:crypto';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HoardError, type ErrorCode } from '../lib/errors.js';
import type { ClientMemory, DataClient, FileInfo, LoadProgress, WorkerStats } from '../worker/client/types.js';

export interface ReadCall {
  path: string;
  offset: number;
  length: number;
  version?: string;
}

/** Reads a real folder; records reads; paths listed in `failures` fail with that HoardError code. */
export class FolderClient implements DataClient {
  readonly reads: ReadCall[] = [];
  readonly failures = new Map<string, ErrorCode>();
  capacityBytes = 0;
  usedBytes = 0;

  constructor(private readonly root: string) {}

  private check(path: string): void {
    const code = this.failures.get(path);
    if (code) throw new HoardError(code, `${path}: injected ${code}`);
  }

  private async info(path: string, inject = true): Promise<FileInfo> {
    if (inject) this.check(path);
    try {
      const st = await stat(join(this.root, path));
      const name = path === '/' ? '' : path.slice(path.lastIndexOf('/') + 1);
      return { path, name, isDir: st.isDirectory(), size: st.size, mtimeMs: st.mtimeMs, version: `${st.mtimeMs}-${st.size}` };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new HoardError('NOT_FOUND', `${path}: not found`);
      throw err;
    }
  }

  stat(path: string): Promise<FileInfo> {
    return this.info(path);
  }

  peekStat(): FileInfo | undefined {
    return undefined; // no cache: every lookup reaches the folder
  }

  async list(path: string): Promise<FileInfo[]> {
    const dir = await this.info(path);
    if (!dir.isDir) throw new HoardError('NOT_DIRECTORY', `${path}: not a directory`);
    const names = (await readdir(join(this.root, path))).sort();
    return Promise.all(names.map((n) => this.info(path === '/' ? `/${n}` : `${path}/${n}`, false)));
  }

  async read(path: string, offset: number, length: number, info?: FileInfo): Promise<Buffer> {
    this.reads.push({ path, offset, length, version: info?.version });
    this.check(path);
    const now = await this.info(path);
    if (info && info.version !== now.version) throw new HoardError('FAILED_PRECONDITION', `${path}: changed since open`);
    const fh = await open(join(this.root, path), 'r');
    try {
      const buf = Buffer.alloc(Math.max(0, Math.min(length, now.size - offset)));
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  async readInto(path: string, offset: number, dest: Buffer, length: number, info?: FileInfo): Promise<number> {
    const data = await this.read(path, offset, length, info);
    return data.copy(dest, 0, 0, Math.min(length, data.length));
  }

  async load(): Promise<LoadProgress> {
    throw new HoardError('INTERNAL', 'FolderClient does not load');
  }

  async stats(): Promise<WorkerStats[]> {
    return [{ workerId: 'folder', capacityBytes: this.capacityBytes, usedBytes: this.usedBytes, pages: 0, hits: 0, misses: 0, ufsBytesRead: 0, evictions: 0, filesCached: 0, writeBehindPending: 0, ready: true, tiers: [] }];
  }

  memory(): ClientMemory {
    return { readAheadBytes: 0, readAheadSpareBytes: 0, statEntries: 0, listEntries: 0, shortCircuitNames: 0 };
  }

  async close(): Promise<void> {}
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool asynchronously (never execFileSync: this process may be serving the mount). */
export function run(cmd: string, args: string[], opts: ExecFileOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000, maxBuffer: 64 * 1024 * 1024, encoding: 'buffer', ...opts }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  return sha256(await readFile(path));
}

/** Runs a tool and returns its stdout as bytes. */
export function runBytes(cmd: string, args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30_000, maxBuffer: 128 * 1024 * 1024, encoding: 'buffer' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}: ${String(stderr)}`));
      else resolve(stdout);
    });
  });
}

export async function mountsContain(dir: string): Promise<boolean> {
  const text = await readFile('/proc/mounts', 'utf8');
  return text.split('\n').some((l) => l.split(' ')[1] === dir);
}

export async function mountOptions(dir: string): Promise<string[]> {
  const text = await readFile('/proc/mounts', 'utf8');
  const line = text.split('\n').find((l) => l.split(' ')[1] === dir);
  return line ? line.split(' ')[3]!.split(',') : [];
}

/** Best-effort cleanup for afterAll: a mount left behind breaks every later FUSE test. */
export async function forceUnmount(dir: string): Promise<void> {
  await run('fusermount', ['-uz', dir]);
}

export interface HoardProcess {
  proc: ChildProcess;
  stderr(): string;
  /** Resolves with the first stdout JSON line whose event matches; rejects on exit/timeout. */
  waitFor(event: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `node dist/bin/hoard.js <args>` (run tsc first) and collects its output. */
export function spawnHoard(args: string[], env: Record<string, string> = {}): HoardProcess {
  const proc = spawn(process.execPath, [hoardBin(), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  const events: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  proc.stderr!.on('data', (d: Buffer) => (err += String(d)));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      return;
    }
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) => proc.once('exit', (code, signal) => {
    ok({ code, signal });
    for (const w of waiters.splice(0)) w();
  }));
  const waitFor = (event: string, timeoutMs = 30_000) =>
    new Promise<Record<string, unknown>>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`no "${event}" event within ${timeoutMs} ms; stderr:\n${err.slice(-3000)}`)), timeoutMs);
      const check = () => {
        const hit = events.find((e) => e.event === event);
        if (hit) {
          clearTimeout(timer);
          return ok(hit);
        }
        if (proc.exitCode !== null || proc.signalCode !== null) {
          clearTimeout(timer);
          return fail(new Error(`hoard ${args[0]} exited (${proc.exitCode ?? proc.signalCode}) before "${event}"; stderr:\n${err.slice(-3000)}`));
        }
        waiters.push(check);
      };
      check();
    });
  return { proc, stderr: () => err, waitFor, exited };
}

/** Kills a child if it is still running and waits for it. */
export async function killHard(p: HoardProcess | undefined): Promise<void> {
  if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  p.proc.kill('SIGKILL');
  await p.exited;
}

/** Whether a process still exists (signal 0 probes without touching it). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
