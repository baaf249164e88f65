// Starts real `hoard worker` processes for tests: each on 127.0.0.1 with a free port, its own cache
// directory, and the listening line parsed from stdout. restart(i) brings a worker back with the
// same id, cache directory and ports, so its disk pages and its place on the ring survive.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { hoardBin } from '../../lib/root.js';
import { workerServiceCtor } from '../../worker/client/connection.js';
import { WorkerCallError } from '../../worker/client/errors.js';

export interface WorkerOptions {
  mountsFile?: string;
  ufs?: string[];
  /** Parent of each worker's disk-tier directory (<cacheRoot>/<id>); a temp dir when omitted. */
  cacheRoot?: string;
  /** MEM tier quota (default 64Mi). */
  mem?: string;
  /** Keep the MEM tier as page files under <ramDisk>/<id> (a tmpfs directory), as `hoard up` does. */
  ramDisk?: string;
  /** SSD tier quota under cacheRoot (default 256Mi); "0" = no disk tier. */
  disk?: string;
  pageSize?: string;
  env?: Record<string, string>;
  /** Extra `hoard worker` flags, e.g. ['--meta-ttl', '0s']. */
  args?: string[];
  /** What runs `hoard` (default: this Node on dist/bin/hoard.js), e.g. `buildah run <ctr> -- hoard`. */
  command?: string[];
}

export interface WorkerInfo {
  id: string;
  grpc: string;
  http: string;
  pid: number;
}

export interface WorkerGroup {
  workers: WorkerInfo[];
  /** "id=host:port" for each worker, the form clients take. */
  addresses(): string[];
  /** Sends a signal (default SIGKILL) and waits for the process to exit. */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Kills the worker if it runs, then starts it again with the same id, cache dir and ports. */
  restart(i: number): Promise<void>;
  /** SIGTERM to all (SIGKILL after 5 s), then removes the temp cache root if the harness made it. */
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 20_000;

interface Slot {
  id: string;
  dir: string;
  grpcPort: number;
  httpPort: number;
  child?: ChildProcess;
  exited?: Promise<void>;
}

export async function startWorkers(n: number, opts: WorkerOptions = {}): Promise<WorkerGroup> {
  if (!opts.mountsFile && !opts.ufs?.length) throw new Error('startWorkers: give mountsFile or ufs');
  const ownRoot = opts.cacheRoot === undefined;
  const root = opts.cacheRoot ?? (await mkdtemp(join(tmpdir(), 'hoard-workers-')));
  const slots: Slot[] = Array.from({ length: n }, (_, i) => ({ id: `w${i}`, dir: join(root, `w${i}`), grpcPort: 0, httpPort: 0 }));
  const workers: WorkerInfo[] = [];

  const launch = async (i: number): Promise<void> => {
    const s = slots[i];
    await mkdir(s.dir, { recursive: true });
    const [cmd, ...lead] = opts.command ?? [process.execPath, hoardBin()];
    const args = [...lead, 'worker', '--id', s.id, '--listen', `127.0.0.1:${s.grpcPort}`, '--http', `127.0.0.1:${s.httpPort}`];
    if (opts.mountsFile) args.push('--mounts-file', opts.mountsFile);
    for (const u of opts.ufs ?? []) args.push('--ufs', u);
    args.push('--tier', opts.ramDisk ? `MEM:${join(opts.ramDisk, s.id)}:${opts.mem ?? '64Mi'}` : `MEM:${opts.mem ?? '64Mi'}`);
    const disk = opts.disk ?? '256Mi';
    if (disk !== '0') args.push('--tier', `SSD:${s.dir}:${disk}`);
    if (opts.pageSize) args.push('--page-size', opts.pageSize);
    args.push(...(opts.args ?? []));
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    s.child = child;
    s.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const info = await waitListening(child, s.id);
    const port = (addr: string) => Number(addr.slice(addr.lastIndexOf(':') + 1));
    s.grpcPort = port(info.grpc);
    s.httpPort = port(info.http);
    workers[i] = { id: s.id, grpc: info.grpc, http: info.http, pid: child.pid! };
  };

  const kill = async (i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const s = slots[i];
    if (!s.child || s.child.exitCode !== null || s.child.signalCode !== null) return;
    s.child.kill(signal);
    await s.exited;
  };

  const stopOne = async (i: number): Promise<void> => {
    const s = slots[i];
    if (!s.child || s.child.exitCode !== null || s.child.signalCode !== null) return;
    const force = setTimeout(() => s.child?.kill('SIGKILL'), 5_000);
    s.child.kill('SIGTERM');
    await s.exited;
    clearTimeout(force);
  };

  const group: WorkerGroup = {
    workers,
    addresses: () => workers.map((w) => `${w.id}=${w.grpc}`),
    kill,
    restart: async (i) => {
      await kill(i);
      await launch(i);
    },
    stop: async () => {
      await Promise.all(slots.map((_, i) => stopOne(i)));
      if (ownRoot) await rm(root, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(slots.map((_, i) => launch(i)));
  } catch (err) {
    await group.stop();
    throw err;
  }
  return group;
}

/** Resolves with the worker's listening line; rejects with its stderr if it exits or stalls first. */
function waitListening(child: ChildProcess, id: string): Promise<{ grpc: string; http: string }> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const fail = (why: string): void => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`worker ${id}: ${why}\n--- stderr ---\n${err.slice(-4000)}`));
    };
    const onOut = (b: Buffer): void => {
      out += b.toString();
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const msg = JSON.parse(line) as { event?: string; grpc?: string; http?: string };
          if (msg.event === 'listening' && msg.grpc && msg.http) {
            cleanup();
            // Keep draining the pipes so a chatty worker never blocks on a full stderr pipe.
            child.stdout?.resume();
            child.stderr?.resume();
            resolve({ grpc: msg.grpc, http: msg.http });
            return;
          }
        } catch {
          // partial line: wait for more
        }
      }
    };
    const onErr = (b: Buffer): void => {
      err += b.toString();
      if (err.length > 64_000) err = err.slice(-16_000);
    };
    const onExit = (code: number | null, sig: string | null): void => fail(`exited before listening (code ${code}, signal ${sig})`);
    const timer = setTimeout(() => fail(`no listening line within ${STARTUP_TIMEOUT_MS} ms`), STARTUP_TIMEOUT_MS);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onOut);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onOut);
    child.stderr?.on('data', onErr);
    child.once('exit', onExit);
  });
}

// A raw gRPC client straight from worker.proto, for tests that exercise a worker's wire API
// without going through worker/client (no ring, no failover, no retries).

export type { FileInfo as RawFileInfo, LoadProgress as RawLoadProgress } from '../../worker/client/types.js';
import type { FileInfo as RawFileInfo, LoadProgress as RawLoadProgress } from '../../worker/client/types.js';

export interface RawWorkerClient {
  stub: grpc.Client & Record<string, (...args: any[]) => any>;
  stat(path: string): Promise<RawFileInfo>;
  list(path: string): Promise<RawFileInfo[]>;
  /** All chunks of one Read call, in order. */
  readChunks(req: { path: string; offset?: number; length?: number; version?: string }): Promise<{ offset: number; data: Buffer }[]>;
  read(path: string, offset: number, length: number, version?: string): Promise<Buffer>;
  load(req: { paths?: string[]; items?: { path: string; offset?: number; length?: number }[]; concurrency?: number; bandwidthBytesPerSec?: number; metadataOnly?: boolean }): Promise<RawLoadProgress[]>;
  stats(): Promise<Record<string, any>>;
  close(): void;
}

export function rawWorkerClient(address: string, options: grpc.ChannelOptions = {}): RawWorkerClient {
  const Ctor = workerServiceCtor();
  const stub = new Ctor(address.includes('=') ? address.slice(address.indexOf('=') + 1) : address, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc-node.flow_control_window': 16 * 1024 * 1024,
    ...options,
  });
  const deadline = (): Date => new Date(Date.now() + 30_000);
  const unary = <T>(method: string, req: object): Promise<T> =>
    new Promise((resolve, reject) => stub[method](req, { deadline: deadline() }, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))));
  const collect = <T>(method: string, req: object): Promise<T[]> =>
    new Promise((resolve, reject) => {
      const out: T[] = [];
      const call = stub[method](req, { deadline: deadline() });
      call.on('data', (m: T) => out.push(m));
      call.on('error', reject);
      call.on('end', () => resolve(out));
    });
  const client: RawWorkerClient = {
    stub,
    stat: (path) => unary('Stat', { path }),
    list: (path) => collect('List', { path }),
    readChunks: (req) => collect('Read', req),
    read: async (path, offset, length, version) => Buffer.concat((await client.readChunks({ path, offset, length, version })).map((c) => c.data)),
    load: (req) => collect('Load', req),
    stats: () => unary('Stats', {}),
    close: () => stub.close(),
  };
  return client;
}

/** The WorkerCallError a worker call failed with; fails the test if it succeeded or failed otherwise. */
export async function workerFailure(p: Promise<unknown>): Promise<WorkerCallError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof WorkerCallError)) throw new Error(`expected a WorkerCallError, got ${e === undefined ? 'success' : String(e)}`);
  return e;
}
