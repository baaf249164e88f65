import { HoardError, isHoardError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { WireLoadItem, WireLoadProgress } from './connection.js';
import { WorkerCallError } from './errors.js';
import type { WorkerPool } from './pool.js';
import { blockKey } from './ring.js';
import type { FileInfo, LoadOptions, LoadProgress } from './types.js';

export interface LoadContext {
  pool: WorkerPool;
  replication: number;
  blockSize: number;
  timeoutMs: number;
  stat(path: string): Promise<FileInfo>;
  list(path: string): Promise<FileInfo[]>;
  /** A stat that skips the client cache, so the owning worker's metadata cache is warmed. */
  statFresh(path: string): Promise<FileInfo>;
  logger?: Logger;
}

interface Item extends WireLoadItem {
  key: string;
}

const MAX_FAILED_PATHS = 100;
const LIST_CONCURRENCY = 8;
const REPORT_EVERY_MS = 200;
/** A Load batch is allowed this long plus its bytes at a pessimistic 1 MiB/s. */
const LOAD_SLOWEST_BYTES_PER_SEC = 1024 * 1024;

/** Runs `fn` over `items` with at most `limit` in flight. */
async function eachLimit<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(runners);
}

class Progress {
  readonly p: LoadProgress = { filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0, failures: 0, failedPaths: [], current: '', done: false };
  private lastReport = 0;
  private readonly failed = new Set<string>();

  constructor(private readonly onProgress: (p: LoadProgress) => void) {}

  fail(path: string): void {
    if (this.failed.has(path)) return;
    this.failed.add(path);
    this.p.failures++;
    this.p.failedPaths.push(path);
    if (this.p.failedPaths.length > MAX_FAILED_PATHS) this.p.failedPaths.shift();
  }

  hasFailed(path: string): boolean {
    return this.failed.has(path);
  }

  report(force = false): void {
    const now = Date.now();
    if (!force && now - this.lastReport < REPORT_EVERY_MS) return;
    this.lastReport = now;
    this.onProgress({ ...this.p, failedPaths: this.p.failedPaths.slice() });
  }
}

/** Every file under `paths` (files stand for themselves, directories are walked). */
async function enumerate(ctx: LoadContext, paths: string[], prog: Progress, signal?: AbortSignal): Promise<FileInfo[]> {
  const files = new Map<string, FileInfo>();
  let dirs: string[] = [];
  await eachLimit(paths, LIST_CONCURRENCY, async (p) => {
    try {
      const info = await ctx.stat(p);
      if (info.isDir) dirs.push(info.path);
      else files.set(info.path, info);
    } catch (e) {
      ctx.logger?.warn({ path: p, err: (e as Error).message }, 'load: cannot stat path');
      prog.fail(p);
    }
  });
  while (dirs.length > 0) {
    signal?.throwIfAborted();
    const next: string[] = [];
    await eachLimit(dirs, LIST_CONCURRENCY, async (d) => {
      try {
        for (const e of await ctx.list(d)) {
          if (e.isDir) next.push(e.path);
          else files.set(e.path, e);
        }
      } catch (e) {
        ctx.logger?.warn({ path: d, err: (e as Error).message }, 'load: cannot list directory');
        prog.fail(d);
      }
    });
    dirs = next;
  }
  return [...files.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
}

/**
 * Preloads files into the cache. Each file is split into blocks, each block is sent to the worker
 * that owns it (the same worker reads will ask), and workers pull their blocks in parallel.
 * Work goes in small batches per worker so a file counts as done as soon as all its blocks are,
 * and a batch whose worker dies is handed to the block's next owner.
 */
export async function runLoad(ctx: LoadContext, paths: string[], opts: LoadOptions, onProgress: (p: LoadProgress) => void): Promise<LoadProgress> {
  const concurrency = opts.concurrency ?? 0;
  if (!Number.isInteger(concurrency) || concurrency < 0) throw new HoardError('INVALID_ARGUMENT', `load concurrency: ${concurrency} must be a non-negative integer`);
  const bandwidth = opts.bandwidthBytesPerSec ?? 0;
  if (!(Number.isFinite(bandwidth) && bandwidth >= 0)) throw new HoardError('INVALID_ARGUMENT', `load bandwidth: ${bandwidth} must be a non-negative number of bytes per second`);
  const signal = opts.signal;
  const prog = new Progress(onProgress);
  await ctx.pool.ready();

  const files = await enumerate(ctx, paths, prog, signal);
  prog.p.filesTotal = files.length + prog.p.failures;
  prog.report(true);

  if (opts.metadataOnly) {
    await eachLimit(files, Math.max(concurrency, LIST_CONCURRENCY), async (f) => {
      signal?.throwIfAborted();
      prog.p.current = f.path;
      try {
        await ctx.statFresh(f.path);
        prog.p.filesDone++;
      } catch {
        prog.fail(f.path);
      }
      prog.report();
    });
    prog.p.done = true;
    prog.p.current = '';
    prog.report(true);
    return prog.p;
  }

  // Split into blocks and route each to its owner.
  const blocksLeft = new Map<string, number>();
  const byWorker = new Map<string, Item[]>();
  const route = (item: Item, exclude: Set<string>): string | undefined => {
    const { up } = ctx.pool.candidates(item.key, ctx.replication);
    return up.find((c) => !exclude.has(c.id))?.id;
  };
  for (const f of files) {
    prog.p.bytesTotal += f.size;
    const blocks = Math.max(1, Math.ceil(f.size / ctx.blockSize));
    blocksLeft.set(f.path, blocks);
    for (let b = 0; b < blocks; b++) {
      const offset = b * ctx.blockSize;
      const item: Item = { key: blockKey(f.path, b), path: f.path, offset, length: Math.min(ctx.blockSize, f.size - offset) };
      const owner = route(item, new Set());
      if (!owner) {
        prog.fail(f.path);
        continue;
      }
      let list = byWorker.get(owner);
      if (!list) byWorker.set(owner, (list = []));
      list.push(item);
    }
  }
  prog.report(true);

  let bytesSettled = 0;
  const inflight = new Map<object, number>();
  const refreshBytes = (): void => {
    let n = bytesSettled;
    for (const v of inflight.values()) n += v;
    prog.p.bytesDone = n;
  };
  const perWorkerBandwidth = bandwidth > 0 ? Math.max(1, Math.floor(bandwidth / Math.max(1, byWorker.size))) : 0;
  // Workers name up to 16 failed paths per job; batches that size keep every failure attributable.
  const batchSize = Math.max(16, concurrency);

  const settle = (items: Item[], failedPaths: Set<string>): void => {
    for (const it of items) {
      if (failedPaths.has(it.path)) prog.fail(it.path);
      const left = (blocksLeft.get(it.path) ?? 1) - 1;
      blocksLeft.set(it.path, left);
      if (left === 0 && !prog.hasFailed(it.path)) prog.p.filesDone++;
    }
  };

  const runBatch = async (workerId: string, items: Item[], attempt: number): Promise<void> => {
    signal?.throwIfAborted();
    const conn = ctx.pool.get(workerId);
    const token = {};
    inflight.set(token, 0);
    const batchBytes = items.reduce((n, it) => n + it.length, 0);
    const deadlineMs = ctx.timeoutMs + Math.ceil((batchBytes / (perWorkerBandwidth ? Math.min(perWorkerBandwidth, LOAD_SLOWEST_BYTES_PER_SEC) : LOAD_SLOWEST_BYTES_PER_SEC)) * 1000);
    try {
      if (!conn) throw new WorkerCallError('UNAVAILABLE', `worker ${workerId} left the ring`, workerId, true);
      prog.p.current = items[0]!.path;
      const last = await conn.load(
        { items: items.map(({ path, offset, length }) => ({ path, offset, length })), concurrency, bandwidthBytesPerSec: perWorkerBandwidth, metadataOnly: false },
        (wp: WireLoadProgress) => {
          inflight.set(token, Math.min(wp.bytesDone, batchBytes));
          if (wp.current) prog.p.current = wp.current;
          refreshBytes();
          prog.report();
        },
        signal,
        deadlineMs,
      );
      inflight.delete(token);
      bytesSettled += Math.min(last?.bytesDone ?? batchBytes, batchBytes);
      const named = last?.failedPaths ?? [];
      const failed = new Set(named);
      // A worker names only its most recent failures: if it counted more than it named, fail the
      // whole batch's files rather than report any of them loaded.
      if ((last?.failures ?? 0) > named.length) for (const it of items) failed.add(it.path);
      settle(items, failed);
      ctx.pool.markUp(workerId);
    } catch (e) {
      inflight.delete(token);
      refreshBytes();
      if (signal?.aborted) throw signal.reason ?? e;
      const workerFault = !(e instanceof WorkerCallError) || e.workerFault;
      if (workerFault && conn) ctx.pool.markDown(workerId, (e as Error).message);
      ctx.logger?.warn({ worker: workerId, items: items.length, err: (e as Error).message }, 'load batch failed');
      if (!workerFault || attempt >= 2 || isHoardError(e, 'INVALID_ARGUMENT')) {
        settle(items, new Set(items.map((it) => it.path)));
        return;
      }
      // Hand each block to its next owner.
      const regroup = new Map<string, Item[]>();
      const orphans: Item[] = [];
      for (const it of items) {
        const owner = route(it, new Set([workerId]));
        if (!owner) orphans.push(it);
        else (regroup.get(owner) ?? regroup.set(owner, []).get(owner)!).push(it);
      }
      settle(orphans, new Set(orphans.map((it) => it.path)));
      for (const [w, its] of regroup) await runBatch(w, its, attempt + 1);
    }
    prog.report();
  };

  await Promise.all(
    [...byWorker].map(async ([workerId, items]) => {
      for (let i = 0; i < items.length; i += batchSize) await runBatch(workerId, items.slice(i, i + batchSize), 0);
    }),
  );
  refreshBytes();
  prog.p.done = true;
  prog.p.current = '';
  prog.report(true);
  return prog.p;
}
