import type { Logger } from '../../lib/log.js';
import type { WorkerMetrics } from '../metrics/worker-metrics.js';
import { errorCodeOf, logFailure, statusNameOf } from './errors.js';
import { readWindows, resolveReadTarget, type MetadataSource, type SliceReader } from './read.js';
import type { CheckedRead } from './validate.js';

/** What serving a data-protocol READ needs from the worker. */
export interface DataReadContext {
  meta: MetadataSource;
  reader: SliceReader;
  /** Bytes read from the cache per step: a whole number of pages, so slices are page views. */
  windowSize: number;
  metrics: WorkerMetrics;
  logger: Logger;
}

/** The connection as one request sees it (data-session.ts). */
export interface FrameOut {
  /** DATA frames for the slices; with `last`, the request's END goes out in the same write. */
  data(id: number, fileOffset: number, slices: Buffer[], last: boolean): void;
  end(id: number): void;
  error(id: number, code: string, message: string): void;
  /** Resolves when the connection can take more, or is gone, or the signal fires. */
  drained(signal: AbortSignal): Promise<void>;
}

/** Metrics label: the same histogram as the gRPC methods, told apart from gRPC Read. */
export const DATA_READ_METHOD = 'ReadData';

/**
 * `req` has passed checkedRead (data-session.ts). Serves a READ of at most one window whose metadata is cached and whose pages are all in
 * memory at once, in the same tick: no promise, generator or AbortController, which are most
 * of what a small cached read costs. Returns false, having sent nothing, for anything else
 * (a miss, a version to check, a request that is not plainly valid): serveRead handles those.
 */
export function serveFromMemory(ctx: DataReadContext, out: FrameOut, id: number, req: CheckedRead): boolean {
  if (ctx.meta.peek === undefined || ctx.reader.peekSlices === undefined || req.length > ctx.windowSize) return false;
  const info = ctx.meta.peek(req.path);
  if (info === undefined || info.isDir || (req.version !== '' && req.version !== info.version)) return false;
  const slices = ctx.reader.peekSlices(info, req.offset, req.length);
  if (slices === undefined) return false;
  const end = ctx.metrics.startRpc(DATA_READ_METHOD);
  let n = 0;
  for (const s of slices) n += s.length;
  out.data(id, Math.min(req.offset, info.size), slices, true);
  ctx.metrics.servedBytes.inc(n);
  end('OK');
  return true;
}

/**
 * Whether a checked READ can be answered without the under-storage: its metadata is cached (or
 * the client named version and size) and some tier holds every page. Such requests never wait
 * for a slot behind requests that wait on a slow store (data-session.ts).
 */
export function answerableFromCache(ctx: DataReadContext, req: CheckedRead): boolean {
  if (ctx.meta.peek === undefined || ctx.reader.holds === undefined) return false;
  const cached = ctx.meta.peek(req.path);
  if (cached !== undefined && req.version !== '' && cached.version !== req.version) return false; // a re-stat decides
  const info = cached ?? (req.version !== '' && req.size !== undefined ? { path: req.path, name: '', isDir: false, size: req.size, mtimeMs: 0, version: req.version } : undefined);
  return info !== undefined && !info.isDir && ctx.reader.holds(info, req.offset, req.length);
}

/**
 * Serves one READ exactly as the gRPC Read does (same validation, version check and cache), but
 * writes page views to the connection instead of encoding chunks. Never throws: failures go to
 * the client as an ERROR frame.
 */
export async function serveRead(ctx: DataReadContext, out: FrameOut, id: number, req: CheckedRead, signal: AbortSignal): Promise<void> {
  const end = ctx.metrics.startRpc(DATA_READ_METHOD);
  try {
    const { path, offset, length, version, size } = req;
    const info = await resolveReadTarget(ctx.meta, path, version, size);
    const stop = Math.min(info.size, offset + length);
    let ended = false;
    for await (const w of readWindows(ctx.reader, info, offset, length, { chunkSize: ctx.windowSize, signal })) {
      if (signal.aborted) break;
      let n = 0;
      for (const s of w.data) n += s.length;
      // The last window carries the END: one write, and one wake-up of the client, per small read.
      ended = w.offset + n >= stop;
      out.data(id, w.offset, w.data, ended);
      ctx.metrics.servedBytes.inc(n);
      if (!ended) await out.drained(signal);
    }
    if (signal.aborted && !ended) {
      end('CANCELLED');
      return;
    }
    if (!ended) out.end(id);
    end('OK');
  } catch (err) {
    if (signal.aborted) {
      end('CANCELLED');
      return;
    }
    end(statusNameOf(err));
    logFailure(ctx.logger, DATA_READ_METHOD, err);
    out.error(id, errorCodeOf(err), err instanceof Error ? err.message : String(err));
  }
}
