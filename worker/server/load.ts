import { errorCodeOf } from './errors.js';
import type { Logger } from '../../lib/log.js';
import type { UfsEntry } from '../ufs/types.js';
import type { WireLoadProgress } from './proto.js';
import type { MetadataSource } from './read.js';
import { TokenBucket } from './token-bucket.js';

/** The page cache as the load path needs it (CachedReader). */
export interface RangeLoader {
  load(info: UfsEntry, offset: number, length: number, onBytes?: (n: number) => void): Promise<number>;
}

export interface LoadPlan {
  /** Files or directories (recursively), already normalised. */
  paths: string[];
  /** Byte ranges of files; length 0 = to end of file. A directory item is loaded whole. */
  items: { path: string; offset: number; length: number }[];
  concurrency: number;
  bandwidthBytesPerSec: number;
  metadataOnly: boolean;
}

export interface LoadDeps {
  meta: MetadataSource;
  reader: RangeLoader;
  pageSize: number;
  logger: Logger;
}

export interface LoadRunOptions {
  signal: AbortSignal;
  onProgress: (p: WireLoadProgress) => void;
  /** Progress is reported at most this often, plus once at the end with done=true. */
  intervalMs?: number;
}

interface Task {
  info: UfsEntry;
  offset: number;
  length: number;
}

const MAX_FAILED_PATHS = 16;
/** Failures logged one by one; the rest go into the summary at the end. */
const FAILURES_LOGGED = 10;
/** Discovered-but-not-started files kept in memory; the directory walk pauses beyond it. */
const MAX_BACKLOG = 10_000;
/** One reader.load call covers at most this much, so progress and cancellation stay responsive. */
const PIECE_BYTES = 8 * 1024 * 1024;

/**
 * Pulls files into the cache: walks directories while a bounded pool of lanes loads what the walk
 * found. A failure (missing path, UFS error) is counted and reported, never fatal to the job.
 */
export async function runLoad(deps: LoadDeps, plan: LoadPlan, opts: LoadRunOptions): Promise<WireLoadProgress> {
  const { signal } = opts;
  const p: WireLoadProgress = { filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0, failures: 0, failedPaths: [], current: '', done: false };
  const bucket = plan.bandwidthBytesPerSec > 0 ? new TokenBucket(plan.bandwidthBytesPerSec) : undefined;
  const piece = pieceSize(deps.pageSize, plan.bandwidthBytesPerSec);
  const tasks: Task[] = [];
  let walking = true;
  let wakeLanes: (() => void)[] = [];
  let wakeWalker: (() => void) | undefined;
  const notifyLanes = (): void => {
    const w = wakeLanes;
    wakeLanes = [];
    for (const f of w) f();
  };

  const failureCodes = new Map<string, number>();
  const fail = (path: string, err: unknown): void => {
    p.failures++;
    p.failedPaths.push(path);
    if (p.failedPaths.length > MAX_FAILED_PATHS) p.failedPaths.shift();
    const code = errorCodeOf(err);
    failureCodes.set(code, (failureCodes.get(code) ?? 0) + 1);
    // A load of 100,000 missing paths must not write 100,000 warnings: the first few, then a summary.
    const level = p.failures <= FAILURES_LOGGED ? 'warn' : 'debug';
    deps.logger[level]({ path, code, err: err instanceof Error ? err.message : String(err) }, 'load: path failed');
  };

  const enqueue = async (info: UfsEntry, offset: number, length: number): Promise<void> => {
    while (tasks.length >= MAX_BACKLOG && !signal.aborted) await new Promise<void>((r) => (wakeWalker = r));
    p.filesTotal++;
    p.bytesTotal += plan.metadataOnly ? 0 : length;
    tasks.push({ info, offset, length });
    notifyLanes();
  };

  const walk = async (root: string): Promise<void> => {
    const stack = [root];
    while (stack.length > 0 && !signal.aborted) {
      const path = stack.pop()!;
      try {
        const info = await deps.meta.stat(path);
        if (!info.isDir) {
          await enqueue(info, 0, info.size);
          continue;
        }
        const entries = await deps.meta.list(path);
        for (const e of entries) {
          if (e.isDir) stack.push(e.path);
          else await enqueue(e, 0, e.size);
        }
      } catch (err) {
        fail(path, err);
      }
    }
  };

  const addItem = async (item: LoadPlan['items'][number]): Promise<void> => {
    let info: UfsEntry;
    try {
      info = await deps.meta.stat(item.path);
    } catch (err) {
      fail(item.path, err);
      return;
    }
    if (info.isDir) return walk(item.path);
    const start = Math.min(item.offset, info.size);
    const length = item.length === 0 ? info.size - start : Math.min(item.length, info.size - start);
    await enqueue(info, start, length);
  };

  const loadTask = async (t: Task): Promise<void> => {
    const end = t.offset + t.length;
    // Pieces start on page boundaries so two pieces never fetch the same page.
    for (let at = t.offset; at < end && !signal.aborted; ) {
      const stop = Math.min(end, (Math.floor(at / piece) + 1) * piece);
      if (bucket) await bucket.take(stop - at, signal);
      if (signal.aborted) return;
      let seen = 0;
      const total = await deps.reader.load(t.info, at, stop - at, (n) => {
        seen += n;
        p.bytesDone += n;
      });
      if (total > seen) p.bytesDone += total - seen;
      at = stop;
    }
  };

  const lane = async (): Promise<void> => {
    while (!signal.aborted) {
      const t = tasks.shift();
      if (!t) {
        if (!walking) return;
        await new Promise<void>((r) => wakeLanes.push(r));
        continue;
      }
      wakeWalker?.();
      p.current = t.info.path;
      try {
        if (!plan.metadataOnly) await loadTask(t);
        if (!signal.aborted) p.filesDone++;
      } catch (err) {
        fail(t.info.path, err);
      }
    }
  };

  const walker = (async () => {
    for (const path of plan.paths) await walk(path);
    for (const item of plan.items) await addItem(item);
  })().finally(() => {
    walking = false;
    notifyLanes();
  });
  const onAbort = (): void => {
    notifyLanes();
    wakeWalker?.();
  };
  signal.addEventListener('abort', onAbort, { once: true });

  let lastSent = '';
  const report = (): void => {
    const snapshot = JSON.stringify(p);
    if (snapshot === lastSent) return;
    lastSent = snapshot;
    opts.onProgress({ ...p, failedPaths: [...p.failedPaths] });
  };
  const timer = setInterval(report, opts.intervalMs ?? 200);
  try {
    await Promise.all([walker, ...Array.from({ length: Math.max(1, plan.concurrency) }, lane)]);
  } finally {
    clearInterval(timer);
    signal.removeEventListener('abort', onAbort);
  }
  p.current = '';
  p.done = true;
  if (p.failures > FAILURES_LOGGED) {
    deps.logger.warn(
      { failures: p.failures, byCode: Object.fromEntries(failureCodes), lastFailedPaths: p.failedPaths },
      `load: ${p.failures} paths failed (the first ${FAILURES_LOGGED} were logged one by one)`,
    );
  }
  report();
  return { ...p, failedPaths: [...p.failedPaths] };
}

/** Bytes per reader.load call: whole pages, and small enough for a bandwidth cap to act smoothly. */
function pieceSize(pageSize: number, bytesPerSec: number): number {
  const want = bytesPerSec > 0 ? Math.min(PIECE_BYTES, Math.max(1, Math.floor(bytesPerSec / 10))) : PIECE_BYTES;
  return Math.max(1, Math.round(want / pageSize)) * pageSize;
}
