import { Registry } from 'prom-client';
import { HoardError } from '../../lib/errors.js';
import { createLogger, type Logger } from '../../lib/log.js';
import { DiskTier } from './disk-tier.js';
import { createPolicy } from './eviction.js';
import { MemTier, type EvictedPage } from './mem-tier.js';
import { storeMetrics, type StoreMetrics } from './metrics.js';
import { fileIdOfKey } from './page-key.js';
import type { TierEvents } from './tier-events.js';
import type { PageStoreOptions, PageStoreStats, TierConfig } from './types.js';

type Tier = MemTier | DiskTier;

const MEDIUM_RANK = { MEM: 0, SSD: 1, HDD: 2 } as const;
/** Disk page headers store the data length as uint32. */
const MAX_PAGE_SIZE = 1024 * 1024 * 1024;
/** Write-behind copies in flight at once: leaves the I/O threads room for reads. */
const WRITE_BEHIND_CONCURRENCY = 2;

/**
 * Tiered page cache: MEM first, then disk tiers in order. New pages go to the top tier; pages
 * evicted from a tier move down one tier (the last tier deletes them); a hit in a lower tier is
 * copied back to the top. Tiers are inclusive: a page promoted to MEM keeps its disk copy, so
 * evicting it from MEM again costs no write.
 *
 * Write-behind: a page cached in a heap MEM tier is also copied to the disk tier below in the
 * background, so a worker restarted (or killed) keeps what its memory held. The queue holds keys
 * only (the bytes are the MEM tier's own buffers), so it is bounded by what MEM holds; a page
 * evicted before its turn is written by its demotion instead, and a deleted one not at all.
 */
export class PageStore {
  readonly pageSize: number;
  private readonly tiers: Tier[] = [];
  private readonly mem: MemTier | undefined;
  /** MEM victims while their demotion write is in flight: still served, never refetched. */
  private readonly demoting = new Map<string, Buffer>();
  private readonly pending = new Set<Promise<void>>();
  /** How many tiers hold each page, and how many distinct pages each file has cached. */
  private readonly refs = new Map<string, number>();
  private readonly files = new Map<string, number>();
  /** Lengths of the distinct pages shorter than pageSize (last pages of files); every other page is pageSize long. */
  private readonly shortPages = new Map<string, number>();
  private distinctBytes = 0;
  private checksumFailures = 0;
  private closed = false;
  private readonly metrics: StoreMetrics;
  private readonly gaugeSource = { tierUsage: () => this.tiers.map((t) => ({ label: t.label, bytes: t.used, pages: t.pageCount })) };
  private readonly log: Logger;
  private readonly promote: boolean;
  /** Keys waiting for their write-behind copy, oldest first, and how many copies are running. */
  private readonly behind = new Set<string>();
  private behindRunning = 0;
  private behindIdle: (() => void)[] = [];
  private readonly writeBehind: boolean;

  private constructor(
    opts: PageStoreOptions,
    private readonly configs: ValidTier[],
  ) {
    this.pageSize = opts.pageSize;
    this.promote = opts.promote ?? true;
    this.writeBehind = opts.writeBehind ?? true;
    this.log = opts.logger ?? createLogger('page-store');
    this.metrics = storeMetrics(opts.registry ?? new Registry());
    const first = configs[0];
    if (first.medium === 'MEM' && first.path === undefined) {
      this.mem = new MemTier(first.label, first.quota, first.high, first.low, createPolicy(opts.eviction ?? 'LRU'), this.events);
    }
  }

  static async open(opts: PageStoreOptions): Promise<PageStore> {
    const configs = validate(opts);
    const store = new PageStore(opts, configs);
    if (store.mem) store.tiers.push(store.mem);
    try {
      for (const c of configs) {
        if (c.medium === 'MEM' && c.path === undefined) continue;
        const policy = createPolicy(opts.eviction ?? 'LRU');
        store.tiers.push(await DiskTier.open({ ...c, medium: c.medium, path: c.path! }, policy, store.events, store.log));
      }
    } catch (err) {
      throw new HoardError('UNAVAILABLE', `cannot open cache tier: ${(err as Error).message}`, { cause: err });
    }
    store.metrics.attach(store.gaugeSource);
    return store;
  }

  /** A page from MEM, synchronously; undefined if it is not in memory. */
  peek(key: string): Buffer | undefined {
    return this.mem?.get(key) ?? this.demoting.get(key);
  }

  /** A page from any tier; a damaged disk page is dropped and reported as a miss. */
  async get(key: string): Promise<Buffer | undefined> {
    const hot = this.peek(key);
    if (hot) return hot;
    for (let t = this.mem ? 1 : 0; t < this.tiers.length; t++) {
      const tier = this.tiers[t] as DiskTier;
      if (!tier.has(key)) continue;
      const data = await tier.read(key);
      if (!data) continue;
      if (this.promote && t > 0 && !this.closed) this.track(this.insertAt(0, key, data));
      return data;
    }
    return undefined;
  }

  /** Tells every tier holding the page that it was just read `uses` times; false if no tier holds it. */
  touch(key: string, uses = 1): boolean {
    let found = false;
    for (const t of this.tiers) found = t.touch(key, uses) || found;
    return found;
  }

  /** Whether some tier holds (or is writing) the page, without reading it. */
  has(key: string): boolean {
    if (this.demoting.has(key)) return true;
    for (const t of this.tiers) if (t.has(key)) return true;
    return false;
  }

  /**
   * Caches a page in the top tier. Resolves once any demotions it caused are written; never
   * rejects (a failed disk write only means the page is not cached there).
   */
  put(key: string, data: Buffer): Promise<void> {
    if (this.closed || this.tiers.length === 0) return Promise.resolve();
    return this.track(this.insertAt(0, key, data));
  }

  async delete(key: string): Promise<void> {
    this.behind.delete(key);
    this.demoting.delete(key);
    this.mem?.delete(key);
    await Promise.all(this.tiers.map((t) => (t instanceof DiskTier ? t.delete(key) : undefined)));
  }

  /** Waits until every started write, demotion and delete has finished. */
  async flush(): Promise<void> {
    await this.writtenBehind();
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    for (const t of this.tiers) if (t instanceof DiskTier) await t.drain();
  }

  async close(): Promise<void> {
    // A graceful stop leaves memory's pages on disk for the next start.
    await this.writtenBehind();
    this.closed = true;
    await this.flush();
    this.metrics.detach(this.gaugeSource);
  }

  stats(): PageStoreStats {
    let evictions = 0;
    for (const t of this.tiers) evictions += t.evictions;
    return {
      capacityBytes: this.configs.reduce((n, c) => n + c.quota, 0),
      usedBytes: this.distinctBytes,
      pages: this.refs.size,
      filesCached: this.files.size,
      evictions,
      checksumFailures: this.checksumFailures,
      writeBehindPending: this.behind.size + this.behindRunning,
      tiers: this.tiers.map((t) => ({
        medium: t.medium,
        label: t.label,
        ...(t instanceof DiskTier ? { path: t.path } : {}),
        capacityBytes: t.quota,
        usedBytes: t.used,
        pages: t.pageCount,
        evictions: t.evictions,
      })),
    };
  }

  /** Every distinct cached page with its length in bytes (a page two tiers hold comes once). */
  *pages(): IterableIterator<[key: string, bytes: number]> {
    for (const key of this.refs.keys()) yield [key, this.shortPages.get(key) ?? this.pageSize];
  }

  private insertAt(t: number, key: string, data: Buffer): Promise<void> {
    const tier = this.tiers[t];
    const next = t + 1 < this.tiers.length ? t + 1 : undefined;
    if (tier instanceof MemTier) {
      const evicted = tier.insert(key, data);
      if (evicted === undefined) return next !== undefined ? this.insertAt(next, key, data) : Promise.resolve();
      if (next !== undefined && this.writeBehind && !this.tiers[next].has(key)) this.queueBehind(key);
      if (evicted.length === 0 || next === undefined) return Promise.resolve();
      return Promise.all(evicted.map((v) => this.demoteFromMem(next, v))).then(() => undefined);
    }
    return tier.insert(key, data, next !== undefined ? (k, d) => this.insertAt(next, k, d) : undefined);
  }

  /** Resolves once no write-behind copy is queued or running. */
  writtenBehind(): Promise<void> {
    if (this.behind.size === 0 && this.behindRunning === 0) return Promise.resolve();
    return new Promise((resolve) => this.behindIdle.push(resolve));
  }

  private queueBehind(key: string): void {
    this.behind.add(key);
    this.pumpBehind();
  }

  /** Starts queued copies up to the concurrency bound; skips pages that left MEM or reached disk meanwhile. */
  private pumpBehind(): void {
    while (this.behindRunning < WRITE_BEHIND_CONCURRENCY && this.behind.size > 0) {
      const key = this.behind.values().next().value as string;
      this.behind.delete(key);
      const data = this.mem?.peek(key);
      if (data === undefined || this.tiers[1].has(key)) continue;
      this.behindRunning++;
      void this.track(this.insertAt(1, key, data)).finally(() => {
        this.behindRunning--;
        this.pumpBehind();
      });
    }
    if (this.behind.size === 0 && this.behindRunning === 0) {
      const idle = this.behindIdle;
      this.behindIdle = [];
      for (const resolve of idle) resolve();
    }
  }

  private async demoteFromMem(next: number, page: EvictedPage): Promise<void> {
    if (this.tiers[next].has(page.key)) return;
    this.demoting.set(page.key, page.data);
    try {
      await this.insertAt(next, page.key, page.data);
    } finally {
      if (this.demoting.get(page.key) === page.data) this.demoting.delete(page.key);
    }
  }

  private track(p: Promise<void>): Promise<void> {
    const tracked = p.catch((err: unknown) => this.log.warn({ err }, 'page store write failed'));
    this.pending.add(tracked);
    void tracked.then(() => this.pending.delete(tracked));
    return tracked;
  }

  private readonly events: TierEvents = {
    added: (key, dataLength) => {
      const n = this.refs.get(key) ?? 0;
      this.refs.set(key, n + 1);
      if (n > 0) return;
      this.distinctBytes += dataLength;
      if (dataLength !== this.pageSize) this.shortPages.set(key, dataLength);
      const fid = fileIdOfKey(key);
      this.files.set(fid, (this.files.get(fid) ?? 0) + 1);
    },
    removed: (key, dataLength) => {
      const n = this.refs.get(key) ?? 0;
      if (n > 1) {
        this.refs.set(key, n - 1);
        return;
      }
      if (n === 0) return;
      this.refs.delete(key);
      this.shortPages.delete(key);
      this.distinctBytes -= dataLength;
      const fid = fileIdOfKey(key);
      const pages = (this.files.get(fid) ?? 1) - 1;
      if (pages > 0) this.files.set(fid, pages);
      else this.files.delete(fid);
    },
    evicted: (label) => this.metrics.evictions.inc({ tier: label }),
    corrupt: (label, key, reason) => {
      this.checksumFailures++;
      this.metrics.checksumFailures.inc();
      this.log.warn({ tier: label, page: key, reason }, 'dropped a damaged cache page');
    },
  };
}

type ValidTier = { medium: TierConfig['medium']; quota: number; high: number; low: number; label: string; path?: string };

function validate(opts: PageStoreOptions): ValidTier[] {
  const bad = (field: string, fix: string): never => {
    throw new HoardError('INVALID_ARGUMENT', `${field}: ${fix}`);
  };
  if (!Number.isInteger(opts.pageSize) || opts.pageSize <= 0 || opts.pageSize > MAX_PAGE_SIZE) {
    bad('pageSize', `expected a whole number of bytes between 1 and 1Gi, got ${opts.pageSize}`);
  }
  if (opts.eviction !== undefined && opts.eviction !== 'LRU' && opts.eviction !== 'LFU') {
    bad('eviction', `expected LRU or LFU, got ${String(opts.eviction)}`);
  }
  if (!Array.isArray(opts.tiers) || opts.tiers.length === 0) bad('tiers', 'configure at least one tier, e.g. MEM:512Mi');
  const seen = new Map<string, number>();
  const paths = new Set<string>();
  const tiers = opts.tiers.map((t, i): ValidTier => {
    const f = `tiers[${i}]`;
    if (!(t.medium in MEDIUM_RANK)) bad(`${f}.medium`, `expected MEM, SSD or HDD, got ${String(t.medium)}`);
    if (!Number.isFinite(t.quota) || t.quota <= 0) bad(`${f}.quota`, `expected a positive size in bytes, got ${t.quota}`);
    const high = t.high ?? 0.95;
    const low = t.low ?? 0.8;
    if (!(high > 0 && high <= 1)) bad(`${f}.high`, `expected a fraction in (0, 1], got ${high}`);
    if (!(low > 0 && low < high)) bad(`${f}.low`, `expected a fraction above 0 and below high (${high}), got ${low}`);
    if (t.path !== undefined || t.medium !== 'MEM') {
      if (!t.path) bad(`${f}.path`, `a ${t.medium} tier needs a directory, e.g. ${t.medium}:/mnt/nvme/hoard:10Gi`);
      if (paths.has(t.path!)) bad(`${f}.path`, `${t.path} is already used by another tier; give each tier its own directory`);
      paths.add(t.path!);
    }
    const n = (seen.get(t.medium) ?? 0) + 1;
    seen.set(t.medium, n);
    if (t.medium === 'MEM' && n > 1) bad(`${f}.medium`, 'only one MEM tier is allowed; raise its quota instead');
    return { medium: t.medium, quota: t.quota, high, low, label: n === 1 ? t.medium : `${t.medium}-${n}`, path: t.path };
  });
  // Stable sort: MEM, then SSD, then HDD, keeping the given order within a medium.
  return tiers.map((t, i) => ({ t, i })).sort((a, b) => MEDIUM_RANK[a.t.medium] - MEDIUM_RANK[b.t.medium] || a.i - b.i).map((x) => x.t);
}
