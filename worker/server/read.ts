import { HoardError } from '../../lib/errors.js';
import type { Ufs, UfsEntry } from '../ufs/types.js';
import type { ReadChunk } from './proto.js';

/** Metadata as the worker sees it: a (cached) Ufs that can forget one path. */
export interface MetadataSource extends Pick<Ufs, 'stat' | 'list'> {
  invalidate?(path: string): void;
  /** A cached stat, without asking the under-storage (MetadataCache). */
  peek?(path: string): UfsEntry | undefined;
}

/** The page cache as the read path needs it (CachedReader). */
export interface RangeReader {
  read(info: UfsEntry, offset: number, length: number): Promise<Buffer>;
}

/** Largest ReadChunk payload: big enough to amortise per-message cost, small enough to stream. */
export const MAX_CHUNK = 1024 * 1024;

/**
 * The file a Read serves. A client version that differs from the cached metadata may just mean
 * our metadata is stale, so the path is re-stat'ed once before the read is refused.
 *
 * A client that names a version and its size saves a cold worker the stat: with nothing cached
 * for the path, the read goes ahead on the client's word, and the under-storage read checks the
 * version on its own response (Ufs.read), so a wrong word costs an error, never wrong bytes.
 * On a ring of N workers this spares the under-storage a HEAD for (N-1)/N of the files, whose
 * listing was cached by another worker.
 */
export async function resolveReadTarget(meta: MetadataSource, path: string, version: string, size?: number): Promise<UfsEntry> {
  if (version !== '' && size !== undefined && meta.peek && meta.peek(path) === undefined) {
    return { path, name: path.slice(path.lastIndexOf('/') + 1), isDir: false, size, mtimeMs: 0, version };
  }
  let info = await meta.stat(path);
  if (version !== '' && info.version !== version && meta.invalidate) {
    meta.invalidate(path);
    info = await meta.stat(path);
  }
  if (info.isDir) throw new HoardError('IS_DIRECTORY', `${path}: is a directory; Read takes a file, use List for directories`);
  if (version !== '' && info.version !== version) {
    throw new HoardError(
      'FAILED_PRECONDITION',
      `${path}: changed since it was stat'ed (client version "${version}", current "${info.version}"); stat it again and retry`,
    );
  }
  return info;
}

/**
 * Chunk size for a page size: a whole number of pages, or a divisor-friendly 1 MiB when pages are
 * bigger, so that chunks on the chunk grid are views of single cached pages (no copy).
 */
export function chunkSizeFor(pageSize: number, maxChunk = MAX_CHUNK): number {
  if (pageSize >= maxChunk) return maxChunk;
  return Math.max(1, Math.floor(maxChunk / pageSize)) * pageSize;
}

export interface ChunkOptions {
  chunkSize: number;
  signal: AbortSignal;
  /** Chunks read ahead of the one being sent, so the network never waits for the cache. */
  prefetch?: number;
}

/**
 * The chunks of [offset, offset+length) clamped at EOF, in order, cut on the chunk grid.
 * Stops quietly when the signal fires (the call was cancelled: nobody is listening).
 */
export function readChunks(reader: RangeReader, info: UfsEntry, offset: number, length: number, opts: ChunkOptions): AsyncGenerator<ReadChunk> {
  return prefetched(info, offset, length, opts, (at, n) => reader.read(info, at, n));
}

/** The page cache as the data protocol needs it: ranges as views of cached pages (CachedReader). */
export interface SliceReader {
  readSlices(info: UfsEntry, offset: number, length: number): Promise<Buffer[]>;
  /** The range if every page is in memory, synchronously; else undefined. */
  peekSlices?(info: UfsEntry, offset: number, length: number): Buffer[] | undefined;
  /** Whether some tier holds every page of the range (nothing to ask the under-storage). */
  holds?(info: UfsEntry, offset: number, length: number): boolean;
}

/** Like readChunks, but each window comes as page views, for writing to a socket without a copy. */
export function readWindows(reader: SliceReader, info: UfsEntry, offset: number, length: number, opts: ChunkOptions): AsyncGenerator<{ offset: number; data: Buffer[] }> {
  return prefetched(info, offset, length, opts, (at, n) => reader.readSlices(info, at, n));
}

async function* prefetched<T>(info: UfsEntry, offset: number, length: number, opts: ChunkOptions, fetch: (at: number, n: number) => Promise<T>): AsyncGenerator<{ offset: number; data: T }> {
  const end = Math.min(info.size, offset + length);
  const ahead = Math.max(1, opts.prefetch ?? 2);
  const queue: { offset: number; data: Promise<T> }[] = [];
  let next = offset;
  const issue = (): void => {
    const at = next;
    const stop = Math.min(end, (Math.floor(at / opts.chunkSize) + 1) * opts.chunkSize);
    next = stop;
    const data = fetch(at, stop - at);
    // A read abandoned by cancellation must not surface as an unhandled rejection.
    data.catch(() => undefined);
    queue.push({ offset: at, data });
  };
  while (queue.length < ahead && next < end) issue();
  while (queue.length > 0 && !opts.signal.aborted) {
    const head = queue.shift()!;
    const data = await unlessAborted(head.data, opts.signal);
    if (data === ABORTED) return;
    if (next < end) issue();
    yield { offset: head.offset, data };
  }
}

const ABORTED: unique symbol = Symbol('aborted');

/**
 * A cancelled call stops waiting at once, even when the under-storage is slow to answer; the
 * fetch itself runs on and its pages are cached for the next reader.
 */
function unlessAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
