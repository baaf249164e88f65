import { HoardError, isHoardError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { MountTable } from '../../lib/mounts.js';
import { normalizePath } from '../ufs/path.js';
import type { WorkerConnection } from './connection.js';
import { DirectUfs } from './direct-ufs.js';
import { isRetryable, isStoreFailure, WorkerCallError } from './errors.js';
import { runLoad } from './loader.js';
import { SrvMembership, StaticMembership, type MembershipSource, type SrvResolver } from './membership.js';
import { WorkerPool } from './pool.js';
import { ReadAhead, type FileRef } from './readahead.js';
import { blockKey, DEFAULT_BLOCK_SIZE } from './ring.js';
import { ShortCircuitReader } from './short-circuit.js';
import { TtlCache } from './ttl-cache.js';
import type { ClientMemory, DataClient, FileInfo, LoadOptions, LoadProgress, WorkerStats } from './types.js';

export type { ClientMemory, DataClient, FileInfo, LoadOptions, LoadProgress, WorkerStats } from './types.js';
export { blockKey, DEFAULT_BLOCK_SIZE, HashRing } from './ring.js';
export { parseMember, type Member } from './membership.js';

export interface ClientOptions {
  /** "id=host:port" or "host:port" entries, or the SRV name of the workers' headless Service. */
  workers: string[] | { srv: string; refreshMs?: number; resolveSrv?: SrvResolver };
  /** The workers' mount table, so the client can read the UFS itself when no worker answers. */
  mounts?: MountTable;
  /** Distinct workers that own each key (default 1); reads go to the first healthy one. */
  replication?: number;
  /** Large files are spread over workers in blocks of this size (default 64 MiB). */
  blockSize?: number;
  /** Deadline of each worker call (default 10 s). */
  timeoutMs?: number;
  /** Sequential read-ahead window (default 16 MiB, fetched in 4 MiB pieces; 0 disables). */
  readAheadBytes?: number;
  /** Memory all read-ahead windows of this client may hold together (default 128 MiB). */
  readAheadBufferBytes?: number;
  /** How long stat/list answers are reused client-side (default 1000 ms; 0 disables). */
  metaTtlMs?: number;
  /** Read pages that a worker on this host keeps on a RAM disk straight from its files (default true). */
  shortCircuit?: boolean;
  /** How often the pages read that way are reported to their workers' eviction policies (default 1000 ms). */
  shortCircuitTouchMs?: number;
  logger?: Logger;
}

const MiB = 1024 * 1024;
/** Short-circuit reads at least this long go through libuv's threads (ShortCircuitReader.readAsync). */
const LOCAL_ASYNC_BYTES = MiB;

function positiveInt(v: number | undefined, dflt: number, field: string, min = 1): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min) throw new Error(`${field}: ${v} must be an integer >= ${min}`);
  return v;
}

function checkRange(p: string, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new HoardError('INVALID_ARGUMENT', `read ${p}: offset ${offset} must be a non-negative integer`);
  if (!Number.isSafeInteger(length) || length < 0) throw new HoardError('INVALID_ARGUMENT', `read ${p}: length ${length} must be a non-negative integer`);
}

function notDir(p: string, f: FileInfo): FileInfo {
  if (f.isDir) throw new HoardError('IS_DIRECTORY', `read ${p}: is a directory`);
  return f;
}

function withTimeout<T>(p: (signal: AbortSignal) => Promise<T>, ms: number, what: string): Promise<T> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ac.abort();
      reject(new HoardError('DEADLINE_EXCEEDED', `${what}: no answer within ${ms} ms`));
    }, ms);
  });
  return Promise.race([p(ac.signal), timeout]).finally(() => clearTimeout(timer));
}

class HoardClient implements DataClient {
  private readonly pool: WorkerPool;
  private readonly direct: DirectUfs | undefined;
  private readonly replication: number;
  private readonly blockSize: number;
  private readonly timeoutMs: number;
  private readonly statCache: TtlCache<FileInfo>;
  private readonly listCache: TtlCache<FileInfo[]>;
  private readonly readAhead: ReadAhead;
  private readonly local: ShortCircuitReader | undefined;
  private touchTimer: NodeJS.Timeout | undefined;
  private readonly logger: Logger | undefined;

  constructor(opts: ClientOptions) {
    this.replication = positiveInt(opts.replication, 1, 'replication');
    this.blockSize = positiveInt(opts.blockSize, DEFAULT_BLOCK_SIZE, 'blockSize', 4096);
    this.timeoutMs = positiveInt(opts.timeoutMs, 10_000, 'timeoutMs');
    const readAheadBytes = positiveInt(opts.readAheadBytes, 16 * MiB, 'readAheadBytes', 0);
    const bufferBytes = positiveInt(opts.readAheadBufferBytes, 128 * MiB, 'readAheadBufferBytes', 0);
    const metaTtlMs = positiveInt(opts.metaTtlMs, 1000, 'metaTtlMs', 0);
    this.logger = opts.logger;
    let membership: MembershipSource;
    if (Array.isArray(opts.workers)) {
      membership = new StaticMembership(opts.workers);
    } else if (opts.workers && typeof opts.workers === 'object' && typeof opts.workers.srv === 'string') {
      membership = new SrvMembership({ name: opts.workers.srv, refreshMs: opts.workers.refreshMs, resolveSrv: opts.workers.resolveSrv, logger: opts.logger });
    } else {
      throw new Error('workers: expected a list of "id=host:port" or {srv: "_grpc._tcp.<dataset>-worker.<ns>.svc.cluster.local"}');
    }
    this.pool = new WorkerPool(membership, this.timeoutMs, opts.logger);
    this.direct = opts.mounts ? new DirectUfs(opts.mounts, metaTtlMs) : undefined;
    const notFound = (e: unknown): boolean => isHoardError(e, 'NOT_FOUND');
    this.statCache = new TtlCache<FileInfo>(metaTtlMs, 20_000, notFound);
    this.listCache = new TtlCache<FileInfo[]>(metaTtlMs, 1_000, notFound);
    this.local = opts.shortCircuit === false ? undefined : new ShortCircuitReader(opts.logger);
    this.readAhead = new ReadAhead(
      (file, o, l, into) => this.fetchRange(file, o, l, into),
      readAheadBytes,
      bufferBytes,
      this.local && ((file, o, l, into) => this.fetchNow(file, o, l, into)),
    );
    if (this.local) {
      this.touchTimer = setInterval(() => void this.reportTouched(), positiveInt(opts.shortCircuitTouchMs, 1000, 'shortCircuitTouchMs'));
      this.touchTimer.unref();
    }
  }

  /**
   * Tells each worker which of its pages were read straight from its RAM disk and how often, so
   * its LRU/LFU sees them and its hit count counts every one of those reads.
   */
  private reportTouched(timeoutMs?: number): Promise<void> {
    const touched = this.local?.drainTouched();
    if (!touched || touched.size === 0) return Promise.resolve();
    const sent: Promise<unknown>[] = [];
    for (const c of this.pool.all()) {
      const report = touched.get(c.id);
      // Best effort: a lost report only makes eviction and the hit ratio slightly less exact.
      if (report) sent.push(c.touch(report, timeoutMs).catch((e: unknown) => this.logger?.debug({ worker: c.id, err: (e as Error).message }, 'touch failed')));
    }
    return Promise.all(sent).then(() => undefined);
  }

  /**
   * Runs `op` on the owners of `key` in preference order. Answers (NOT_FOUND, …, and "my store is
   * slow or down" from a live worker) come back at once; a worker that cannot be reached or does
   * not answer at all is marked down and the next owner is asked, then the UFS directly.
   */
  private async viaWorkers<T>(key: string, what: string, op: (c: WorkerConnection) => Promise<T>, fallback?: (signal: AbortSignal) => Promise<T>): Promise<T> {
    await this.pool.ready();
    const { up, down } = this.pool.candidates(key, this.replication);
    const tries = fallback ? up : [...up, ...down];
    let last: unknown;
    for (const c of tries) {
      try {
        const r = await op(c);
        this.pool.markUp(c.id);
        return r;
      } catch (e) {
        if (!isRetryable(e)) throw e;
        if (isStoreFailure(e)) {
          this.pool.markUp(c.id);
          throw e;
        }
        if (e instanceof WorkerCallError && e.workerFault) this.pool.markDown(c.id, e.message);
        this.logger?.debug({ worker: c.id, what, err: (e as Error).message }, 'worker call failed; trying the next');
        last = e;
      }
    }
    const workersSaid = last ? `workers failed (last: ${(last as Error).message})` : 'no worker available';
    if (fallback) {
      try {
        return await withTimeout(fallback, this.timeoutMs, `${what} from the under-storage`);
      } catch (e) {
        if (!isRetryable(e)) throw e;
        const code = isHoardError(e) ? e.code : 'UNAVAILABLE';
        throw new HoardError(code, `${what}: ${workersSaid}, and the under-storage failed too: ${(e as Error).message}`, { cause: e });
      }
    }
    throw new HoardError('UNAVAILABLE', `${what}: ${workersSaid}; give the client the mount table to fall back to the under-storage`, { cause: last });
  }

  stat(path: string): Promise<FileInfo> {
    const p = normalizePath(path);
    const direct = this.direct;
    return this.statCache.get(p, () => this.viaWorkers(p, `stat ${p}`, (c) => c.stat(p), direct && (() => direct.stat(p))));
  }

  async list(path: string): Promise<FileInfo[]> {
    const p = normalizePath(path);
    const direct = this.direct;
    const entries = await this.listCache.get(p, async () => {
      const r = await this.viaWorkers(p, `list ${p}`, (c) => c.list(p), direct && (() => direct.list(p)));
      // readdir is followed by a getattr per entry: answer those from the listing.
      for (const e of r) this.statCache.set(e.path, e);
      return r;
    });
    return entries.slice();
  }

  memory(): ClientMemory {
    return {
      readAheadBytes: this.readAhead.bufferedBytes,
      readAheadSpareBytes: this.readAhead.spareBytes,
      statEntries: this.statCache.size,
      listEntries: this.listCache.size,
      shortCircuitNames: this.local?.namesRemembered ?? 0,
    };
  }

  peekStat(path: string): FileInfo | undefined {
    return this.statCache.peek(normalizePath(path));
  }

  async read(path: string, offset: number, length: number, info?: FileInfo): Promise<Buffer> {
    const p = normalizePath(path);
    checkRange(p, offset, length);
    const f = notDir(p, info ?? (await this.stat(p)));
    const out = Buffer.allocUnsafe(Math.max(0, Math.min(offset + length, f.size) - offset));
    const n = await this.readFile(p, f, offset, out.length, out);
    return n === out.length ? out : out.subarray(0, n);
  }

  readInto(path: string, offset: number, dest: Buffer, length: number, info?: FileInfo): number | Promise<number> {
    try {
      if (length > dest.length) throw new HoardError('INVALID_ARGUMENT', `read ${path}: length ${length} exceeds the ${dest.length}-byte buffer`);
      const p = normalizePath(path);
      checkRange(p, offset, length);
      if (info !== undefined) return this.readFile(p, notDir(p, info), offset, length, dest);
      return this.stat(p).then((f) => this.readFile(p, notDir(p, f), offset, length, dest));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Copies [offset, offset+length) of `f` (clamped at EOF) into dest through the read-ahead; a number when it needed no wait. */
  private readFile(p: string, f: FileInfo, offset: number, length: number, dest: Buffer): number | Promise<number> {
    const end = Math.min(offset + length, f.size);
    if (end <= offset) return 0;
    const r = this.readAhead.readInto({ path: p, version: f.version, size: f.size }, offset, end - offset, dest);
    if (typeof r === 'number') return r;
    return r.catch((e: unknown) => {
      if (isHoardError(e, 'FAILED_PRECONDITION')) {
        // The file changed: the next stat must see the new version.
        this.statCache.delete(p);
        this.readAhead.invalidate(p);
      }
      throw e;
    });
  }

  /**
   * A range inside one block from this host's RAM disk, at once, when its first healthy owner
   * keeps it there (a small read: big ones go through readAsync in fetchRange); else undefined.
   */
  private fetchNow(file: FileRef, offset: number, length: number, into?: Buffer): Buffer | undefined {
    const block = Math.floor(offset / this.blockSize);
    if (length >= LOCAL_ASYNC_BYTES || Math.floor((offset + length - 1) / this.blockSize) !== block) return undefined;
    const owner = this.pool.candidates(blockKey(file.path, block), this.replication).up[0];
    return owner && this.local?.read(owner.id, file, offset, length, into);
  }

  /** A byte range, split at block boundaries so each block is read from its own owner. */
  private async fetchRange(file: FileRef, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const out = into && into.length >= length ? into.subarray(0, length) : undefined;
    const parts: Promise<Buffer>[] = [];
    const end = offset + length;
    for (let at = offset; at < end; ) {
      const block = Math.floor(at / this.blockSize);
      const segEnd = Math.min(end, (block + 1) * this.blockSize);
      const seg = out?.subarray(at - offset, segEnd - offset);
      parts.push(this.readBlock(file, block, at, segEnd - at, seg));
      at = segEnd;
    }
    // Every part must have stopped writing into `out` before the range settles, failed or not:
    // its buffer is then reused (readahead.ts).
    const settled = await Promise.allSettled(parts);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const bufs = settled.map((r) => (r as PromiseFulfilledResult<Buffer>).value);
    if (!out) return bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs, length);
    let at = 0;
    for (const b of bufs) {
      // A part that could not be read in place (the UFS fallback) is copied.
      if (b.buffer !== out.buffer || b.byteOffset !== out.byteOffset + at) b.copy(out, at);
      at += b.length;
    }
    return out;
  }

  private readBlock(file: FileRef, block: number, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const { path: p, version, size } = file;
    const direct = this.direct;
    const what = `read ${p} [${offset}, +${length})`;
    return this.viaWorkers(
      blockKey(p, block),
      what,
      async (c) => {
        const local = this.local;
        if (local) {
          // Small reads copy at once; read-ahead pieces copy on libuv's threads, so the FUSE
          // requests queued behind them are not held up by megabytes of copying.
          const b = length >= LOCAL_ASYNC_BYTES ? await local.readAsync(c.id, file, offset, length, into) : local.read(c.id, file, offset, length, into);
          if (b !== undefined) return b;
          local.probe(c.id, () => c.stats());
        }
        const b = await c.read(p, offset, length, version, undefined, into, size);
        if (b.length !== length) throw new WorkerCallError('INTERNAL', `worker ${c.id}: ${what} returned ${b.length} bytes`, c.id, false);
        return b;
      },
      direct &&
        (async (signal) => {
          const b = await direct.read(p, version, offset, length, signal);
          if (b.length !== length) throw new HoardError('FAILED_PRECONDITION', `${what}: the file is shorter than when it was opened; reopen it`);
          return b;
        }),
    );
  }

  load(paths: string[], opts: LoadOptions, onProgress: (p: LoadProgress) => void): Promise<LoadProgress> {
    return runLoad(
      {
        pool: this.pool,
        replication: this.replication,
        blockSize: this.blockSize,
        timeoutMs: this.timeoutMs,
        stat: (p) => this.stat(p),
        list: (p) => this.list(p),
        statFresh: (p) => this.viaWorkers(normalizePath(p), `stat ${p}`, (c) => c.stat(normalizePath(p))),
        logger: this.logger,
      },
      paths.map((p) => normalizePath(p)),
      opts,
      onProgress,
    );
  }

  async stats(): Promise<WorkerStats[]> {
    await this.pool.ready();
    return Promise.all(
      this.pool.all().map((c) =>
        c.stats().catch(
          (): WorkerStats => ({
            workerId: c.id,
            capacityBytes: 0,
            usedBytes: 0,
            pages: 0,
            hits: 0,
            misses: 0,
            ufsBytesRead: 0,
            evictions: 0,
            filesCached: 0,
            writeBehindPending: 0,
            ready: false,
            tiers: [],
          }),
        ),
      ),
    );
  }

  async close(): Promise<void> {
    clearInterval(this.touchTimer);
    // The last interval's reads still count (an unmount right after a read); a dead worker costs at most a second.
    await this.reportTouched(1000);
    this.readAhead.clear();
    await this.local?.close();
    this.pool.close();
    await this.direct?.close();
  }
}

/** The data-plane client used by the FUSE filesystem, `hoard load` and the operator. */
export function createClient(opts: ClientOptions): DataClient {
  return new HoardClient(opts);
}
