import type { Readable } from 'node:stream';
import { Registry } from 'prom-client';
import { HoardError, isHoardError } from '../../lib/errors.js';
import type { Ufs, UfsEntry } from '../ufs/types.js';
import { readerMetrics, type ReaderMetrics } from './metrics.js';
import { fileId, pageKey, pageLength, pageSpan, versionOf, type PageSpan } from './page-key.js';
import type { PageStore } from './page-store.js';
import type { ReaderStats } from './types.js';

export interface CachedReaderOptions {
  pageSize: number;
  registry?: Registry;
  /** Longest single ranged UFS read; longer missing runs are split (default 16 MiB). */
  maxRunBytes?: number;
  /** Runs one load() fetches at the same time (default 4). */
  loadParallelRuns?: number;
  /**
   * When a read misses right after the pages before it (a sequential reader), the ranged read
   * goes on up to this many bytes, to the next multiple of it, so a sequential file costs the
   * under-storage one request per this many bytes instead of one per client request (default
   * 0: fetch only what was asked). Never more than maxRunBytes.
   */
  readAheadBytes?: number;
}

/** A page being fetched: `page` settles as soon as its bytes arrived, `stored` once the whole run is cached. */
interface InFlight {
  page: Promise<Buffer>;
  stored: Promise<void>;
  /** The run's own promise: identifies which run registered the entry. */
  run: Promise<Buffer[]>;
}

/** One ranged read in progress: its pages, each as it arrives, and the run as a whole. */
interface Run {
  pages: Promise<Buffer>[];
  data: Promise<Buffer[]>;
  stored: Promise<void>;
}

const EMPTY = Buffer.alloc(0);

/**
 * Read-through over a PageStore: hits come from the tiers, each run of missing pages is one
 * ranged UFS read, and concurrent misses on a page share one fetch. Returned buffers may be
 * views of cached pages: callers must treat them as read-only.
 */
export class CachedReader {
  private readonly pageSize: number;
  private readonly maxRunPages: number;
  private readonly loadParallelRuns: number;
  private readonly readAheadPages: number;
  private readonly inflight = new Map<string, InFlight>();
  private readonly pending = new Set<Promise<void>>();
  private readonly metrics: ReaderMetrics;
  private hits = 0;
  private misses = 0;
  private ufsBytesRead = 0;

  constructor(
    private readonly store: PageStore,
    private readonly ufs: Ufs & { invalidate?(path: string): void },
    opts: CachedReaderOptions,
  ) {
    if (opts.pageSize !== store.pageSize) {
      throw new HoardError('INVALID_ARGUMENT', `pageSize: reader uses ${opts.pageSize} but the store was opened with ${store.pageSize}; pass the same page size to both`);
    }
    this.pageSize = opts.pageSize;
    this.maxRunPages = Math.max(1, Math.floor((opts.maxRunBytes ?? 16 * 1024 * 1024) / this.pageSize));
    this.loadParallelRuns = Math.max(1, opts.loadParallelRuns ?? 4);
    this.readAheadPages = Math.min(this.maxRunPages, Math.floor(Math.max(0, opts.readAheadBytes ?? 0) / this.pageSize));
    this.metrics = readerMetrics(opts.registry ?? new Registry());
  }

  /** Exactly the bytes [offset, offset+length) of the file version `info` describes, clamped at EOF. */
  async read(info: UfsEntry, offset: number, length: number): Promise<Buffer> {
    const parts = await this.readSlices(info, offset, length);
    if (parts.length === 0) return EMPTY;
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  /**
   * Like read(), but returns the range as consecutive views of the cached pages, with no copy:
   * a server can stream them as they are (one chunk per page) instead of concatenating.
   */
  async readSlices(info: UfsEntry, offset: number, length: number): Promise<Buffer[]> {
    if (info.isDir) throw new HoardError('IS_DIRECTORY', `${info.path} is a directory`);
    const hot = this.memoryPages(info, offset, length);
    if (hot === undefined) return [];
    if (hot.missing > 0) await this.fill(info, hot.fid, hot.span.firstPage, hot.pages);
    else this.countHits(hot.pages.length);
    return slices(hot.pages as Buffer[], hot.span, this.pageSize);
  }

  /**
   * The range as views of pages that are all in memory, synchronously (counted as hits), or
   * undefined when any page is not: then nothing is counted and readSlices does the work.
   */
  peekSlices(info: UfsEntry, offset: number, length: number): Buffer[] | undefined {
    if (info.isDir) return undefined;
    const hot = this.memoryPages(info, offset, length);
    if (hot === undefined) return [];
    if (hot.missing > 0) return undefined;
    this.countHits(hot.pages.length);
    return slices(hot.pages as Buffer[], hot.span, this.pageSize);
  }

  /**
   * Whether some tier holds every page of the range (at most `maxPages` of them), so a read of
   * it needs nothing from the under-storage; synchronous, reads nothing, counts nothing.
   */
  holds(info: UfsEntry, offset: number, length: number, maxPages = 1024): boolean {
    if (info.isDir) return false;
    const span = pageSpan(info.size, offset, length, this.pageSize);
    if (!span) return true;
    if (span.lastPage - span.firstPage >= maxPages) return false;
    const fid = fileId(info.path, versionOf(info));
    for (let index = span.firstPage; index <= span.lastPage; index++) if (!this.store.has(pageKey(fid, index))) return false;
    return true;
  }

  /** The range's pages as MEM holds them (synchronous, no disk), with how many are missing; undefined for an empty range. */
  private memoryPages(info: UfsEntry, offset: number, length: number): { span: PageSpan; fid: string; pages: (Buffer | undefined)[]; missing: number } | undefined {
    const span = pageSpan(info.size, offset, length, this.pageSize);
    if (!span) return undefined;
    const fid = fileId(info.path, versionOf(info));
    // Filled, not sparse: fill() maps over every slot.
    const pages: (Buffer | undefined)[] = new Array<Buffer | undefined>(span.lastPage - span.firstPage + 1).fill(undefined);
    let missing = 0;
    for (let i = 0; i < pages.length; i++) {
      const index = span.firstPage + i;
      const data = this.store.peek(pageKey(fid, index));
      if (data !== undefined && data.length === pageLength(info.size, index, this.pageSize)) pages[i] = data;
      else missing++;
    }
    return { span, fid, pages, missing };
  }

  private countHits(n: number): void {
    this.hits += n;
    this.metrics.hits.inc(n);
  }

  /** Pulls the pages of a range into the cache without returning them; resolves to the range's byte count. */
  async load(info: UfsEntry, offset: number, length: number, onBytes?: (n: number) => void): Promise<number> {
    if (info.isDir) throw new HoardError('IS_DIRECTORY', `${info.path} is a directory`);
    const span = pageSpan(info.size, offset, length, this.pageSize);
    if (!span) return 0;
    const fid = fileId(info.path, versionOf(info));
    const windows: [number, number][] = [];
    for (let a = span.firstPage; a <= span.lastPage; a += this.maxRunPages) {
      windows.push([a, Math.min(span.lastPage, a + this.maxRunPages - 1)]);
    }
    const bytesIn = (index: number): number => {
      const pageStart = index * this.pageSize;
      return Math.min(span.end, pageStart + this.pageSize) - Math.max(span.start, pageStart);
    };
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < windows.length) {
        const [a, b] = windows[next++];
        const waits: Promise<void>[] = [];
        let run: number[] = [];
        const flush = (): void => {
          if (run.length === 0) return;
          const started = this.startRun(info, fid, run[0], run[run.length - 1]);
          const bytes = run.reduce((n, i) => n + bytesIn(i), 0);
          waits.push(started.stored.then(() => started.data).then(() => onBytes?.(bytes)));
          run = [];
        };
        for (let index = a; index <= b; index++) {
          const key = pageKey(fid, index);
          const joined = this.inflight.get(key);
          if (this.store.has(key)) {
            flush();
            onBytes?.(bytesIn(index));
          } else if (joined) {
            flush();
            waits.push(joined.stored.then(() => joined.page).then(() => onBytes?.(bytesIn(index))));
          } else {
            run.push(index);
          }
        }
        flush();
        await Promise.all(waits);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.loadParallelRuns, windows.length) }, lane));
    return span.end - span.start;
  }

  /**
   * Reads that clients made straight from the page files (short-circuit): each page is touched
   * once per read for eviction (LFU counts them all), and every read counts as a hit, as it would have through Read,
   * whether or not the page has been evicted since. How many pages are still cached, and the hits added.
   */
  touch(report: { keys: string[]; reads: number[]; unlistedReads: number }): { touched: number; hits: number } {
    let touched = 0;
    let hits = report.unlistedReads;
    for (let i = 0; i < report.keys.length; i++) {
      const reads = report.reads[i] ?? 1;
      if (this.store.touch(report.keys[i]!, reads)) touched++;
      hits += reads;
    }
    // Reads the store never saw: without them the hit ratio would ignore every short-circuit
    // read (3.2% through fully cached re-reads).
    if (hits > 0) this.countHits(hits);
    return { touched, hits };
  }

  /** Every distinct cached page with its length (PageStore.pages). */
  pages(): IterableIterator<[key: string, bytes: number]> {
    return this.store.pages();
  }

  stats(): ReaderStats {
    return { ...this.store.stats(), hits: this.hits, misses: this.misses, ufsBytesRead: this.ufsBytesRead };
  }

  /** Waits for in-flight fetches to be cached, then closes the store (the UFS stays open: its owner closes it). */
  async close(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    await this.store.close();
  }

  /** Fills the undefined slots of `pages`: lower tiers first, then shared or new UFS fetches. */
  private async fill(info: UfsEntry, fid: string, first: number, pages: (Buffer | undefined)[]): Promise<void> {
    const expected = (i: number): number => pageLength(info.size, first + i, this.pageSize);
    await Promise.all(
      pages.map(async (p, i) => {
        if (p !== undefined) return;
        const key = pageKey(fid, first + i);
        if (!this.store.has(key)) return;
        const data = await this.store.get(key);
        if (data === undefined) return;
        if (data.length === expected(i)) pages[i] = data;
        else await this.store.delete(key); // cannot be this version's page: never serve it
      }),
    );
    const waits: Promise<void>[] = [];
    let hits = 0;
    let run: number[] = [];
    const flush = (extend = false): void => {
      if (run.length === 0) return;
      const a = run[0];
      const last = first + run[run.length - 1];
      const started = this.startRun(info, fid, first + a, extend ? this.readAheadEnd(info, fid, first + a, last) : last);
      for (let j = 0; j < run.length; j++) waits.push(started.pages[j].then((d) => void (pages[a + j] = d)));
      run = [];
    };
    for (let i = 0; i < pages.length; i++) {
      if (pages[i] !== undefined) {
        hits++;
        flush();
        continue;
      }
      const key = pageKey(fid, first + i);
      // Re-check: another reader may have cached or started this page while we awaited the disk.
      const hot = this.store.peek(key);
      const joined = this.inflight.get(key);
      if (hot !== undefined && hot.length === expected(i)) {
        pages[i] = hot;
        hits++;
        flush();
      } else if (joined) {
        flush();
        waits.push(joined.page.then((got) => void (pages[i] = got)));
      } else {
        run.push(i);
        if (run.length >= this.maxRunPages) flush();
      }
    }
    // A miss at the end of the range, right after pages already here or coming: a sequential
    // reader, so this run reads on ahead of it.
    flush(this.readAheadPages > 0 && run.length > 0 && this.followsCached(fid, first + run[0]));
    const misses = pages.length - hits;
    if (hits > 0) this.countHits(hits);
    this.misses += misses;
    if (misses > 0) this.metrics.misses.inc(misses);
    await Promise.all(waits);
  }

  /** True when page `index` follows a page of the same file that is cached or being fetched (or is page 0). */
  private followsCached(fid: string, index: number): boolean {
    if (index === 0) return true;
    const prev = pageKey(fid, index - 1);
    return this.inflight.has(prev) || this.store.has(prev);
  }

  /**
   * Where a sequential run that must cover pages first..last may stop: on the read-ahead grid
   * (so runs of sequential readers line up, and stay inside a client's block when blocks are a
   * multiple of it), at EOF, and before any page already cached or in flight.
   */
  private readAheadEnd(info: UfsEntry, fid: string, first: number, last: number): number {
    const lastPage = Math.ceil(info.size / this.pageSize) - 1;
    let end = Math.min(lastPage, first + this.maxRunPages - 1, (Math.floor(last / this.readAheadPages) + 1) * this.readAheadPages - 1);
    for (let i = last + 1; i <= end; i++) {
      const key = pageKey(fid, i);
      if (this.inflight.has(key) || this.store.has(key)) {
        end = i - 1;
        break;
      }
    }
    return Math.max(last, end);
  }

  /** Starts one ranged UFS read for pages first..last and registers them as in flight. */
  private startRun(info: UfsEntry, fid: string, first: number, last: number): Run {
    const count = last - first + 1;
    const settle: { resolve(b: Buffer): void; reject(e: unknown): void }[] = [];
    const pages = Array.from({ length: count }, () => {
      const p = new Promise<Buffer>((resolve, reject) => settle.push({ resolve, reject }));
      // Pages read ahead may have no reader: their failure is the run's, reported there.
      p.catch(() => undefined);
      return p;
    });
    let arrived = 0;
    const puts: Promise<unknown>[] = [];
    const answered = new Array<boolean>(count).fill(false);
    const answer = (j: number, page: Buffer): void => {
      answered[j] = true;
      settle[j].resolve(page);
    };
    // Each page is handed to the cache and answered as it arrives: a long read-ahead run never
    // holds back the pages at its front, and no reader waits for a tier's write. The last page
    // is answered with the run, so a read of exactly one run returns when the run is complete.
    const data = this.fetchRun(info, first, last, (j, page) => {
      arrived = j + 1;
      puts.push(this.store.put(pageKey(fid, first + j), page).catch(() => undefined));
      if (j < count - 1) answer(j, page);
    });
    // A failed run leaves nothing cached, then fails the pages not yet answered (the ones that
    // were are good bytes: the version was checked on the response before any byte came).
    const stored = data
      .then(
        async (got) => {
          answer(count - 1, got[count - 1]);
          await Promise.all(puts);
        },
        async (err: unknown) => {
          await Promise.all(puts);
          for (let j = 0; j < arrived; j++) await this.store.delete(pageKey(fid, first + j));
          settle.forEach((s, j) => answered[j] || s.reject(err));
        },
      )
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        for (let i = first; i <= last; i++) {
          const key = pageKey(fid, i);
          if (this.inflight.get(key)?.run === data) this.inflight.delete(key);
        }
      });
    for (let i = first; i <= last; i++) this.inflight.set(pageKey(fid, i), { page: pages[i - first], stored, run: data });
    this.pending.add(stored);
    void stored.then(() => this.pending.delete(stored));
    return { pages, data, stored };
  }

  /** One ranged read, cut into page-sized buffers as it streams (one copy, no concat). */
  private async fetchRun(info: UfsEntry, first: number, last: number, onPage?: (j: number, page: Buffer) => void): Promise<Buffer[]> {
    const start = first * this.pageSize;
    const want = Math.min(info.size, (last + 1) * this.pageSize) - start;
    const endTimer = this.metrics.ufsReadSeconds.startTimer();
    let stream: Readable | undefined;
    let total = 0;
    try {
      // The version check rides on the read itself: pages of a file replaced since its stat are never cached.
      stream = await this.ufs.read(info.path, start, want, undefined, info.version || undefined);
      const pages: Buffer[] = [];
      let index = first;
      let cur: Buffer | undefined;
      let filled = 0;
      for await (const raw of stream) {
        const chunk: Buffer = typeof raw === 'string' ? Buffer.from(raw) : (raw as Buffer);
        if (total + chunk.length > want) {
          throw new HoardError('FAILED_PRECONDITION', `${info.path} returned more bytes than requested at offset ${start}; the file changed, stat it again`);
        }
        total += chunk.length;
        // Counted as it arrives: readers of the run's first pages return before it ends.
        this.ufsBytesRead += chunk.length;
        this.metrics.ufsReadBytes.inc(chunk.length);
        let off = 0;
        while (off < chunk.length) {
          if (cur === undefined) {
            cur = Buffer.allocUnsafe(pageLength(info.size, index, this.pageSize));
            filled = 0;
          }
          const n = chunk.copy(cur, filled, off, Math.min(chunk.length, off + cur.length - filled));
          filled += n;
          off += n;
          if (filled === cur.length) {
            pages.push(cur);
            onPage?.(index - first, cur);
            cur = undefined;
            index++;
          }
        }
      }
      if (total !== want) {
        throw new HoardError('FAILED_PRECONDITION', `${info.path} ended after ${total} of ${want} bytes at offset ${start}; the file changed, stat it again`);
      }
      return pages;
    } catch (err) {
      // The file changed under its cached metadata: forget that metadata, or every retry would
      // be refused against the same stale version until its TTL ran out.
      if (isHoardError(err, 'FAILED_PRECONDITION')) this.ufs.invalidate?.(info.path);
      if (isHoardError(err)) throw err;
      throw new HoardError('UNAVAILABLE', `reading ${info.path} from the under-storage failed: ${(err as Error).message}`, { cause: err });
    } finally {
      stream?.destroy();
      endTimer();
    }
  }
}

/** Cuts the first and last page down to the requested range. */
function slices(pages: Buffer[], span: PageSpan, pageSize: number): Buffer[] {
  const from = span.start - span.firstPage * pageSize;
  if (pages.length === 1) return [pages[0].subarray(from, from + span.end - span.start)];
  const parts = pages.slice();
  parts[0] = parts[0].subarray(from);
  parts[parts.length - 1] = parts[parts.length - 1].subarray(0, span.end - span.lastPage * pageSize);
  return parts;
}
