import { closeSync, openSync, readFileSync, renameSync, writevSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../lib/log.js';
import type { EvictionPolicy } from './eviction.js';
import type { Medium } from './types.js';
import { KeyedQueue } from './keyed-queue.js';
import { decodeHeader, decodePage, encodeHeader, FIXED_HEADER, MAX_KEY_BYTES, pageFileName } from './page-file.js';
import { evictedEnough, fitsTier, mustEvict, type TierEvents, type Watermarks } from './tier-events.js';

interface DiskEntry {
  file: string;
  /** Header plus data: what the page costs against the quota. */
  fileBytes: number;
  dataLength: number;
}

/** Receives a page evicted from this tier, for the next tier down. */
export type Demote = (key: string, data: Buffer) => Promise<void>;

const SCAN_CONCURRENCY = 32;
let tmpCounter = 0;

/**
 * Pages as files <path>/pages/<2 hex>/<sha256(key)>, each with a self-describing, checksummed
 * header, so the index can be rebuilt by scanning after a restart and a damaged file is caught
 * on read instead of being served. Quota accounting counts whole files (header included).
 */
export class DiskTier implements Watermarks {
  used = 0;
  evictions = 0;
  private readonly index = new Map<string, DiskEntry>();
  private readonly writing = new Map<string, Promise<void>>();
  private readonly queue = new KeyedQueue();
  private readonly pagesDir: string;

  private constructor(
    readonly medium: Medium,
    readonly label: string,
    readonly path: string,
    readonly quota: number,
    readonly high: number,
    readonly low: number,
    private readonly policy: EvictionPolicy,
    private readonly events: TierEvents,
    private readonly log: Logger,
  ) {
    this.pagesDir = join(path, 'pages');
  }

  static async open(
    cfg: { medium: Medium; label: string; path: string; quota: number; high: number; low: number },
    policy: EvictionPolicy,
    events: TierEvents,
    log: Logger,
  ): Promise<DiskTier> {
    const tier = new DiskTier(cfg.medium, cfg.label, cfg.path, cfg.quota, cfg.high, cfg.low, policy, events, log);
    await tier.rebuildIndex();
    return tier;
  }

  get pageCount(): number {
    return this.index.size;
  }

  /** Counts `uses` reads the tier did not serve itself (short-circuit reads); false if not here. */
  touch(key: string, uses = 1): boolean {
    if (!this.index.has(key)) return false;
    this.policy.touch(key, uses);
    return true;
  }

  /** Indexed or being written: either way no second copy is needed. */
  has(key: string): boolean {
    return this.index.has(key) || this.writing.has(key);
  }

  /** The page's data if present and intact; a damaged file is deleted and reported as a miss. */
  async read(key: string): Promise<Buffer | undefined> {
    const entry = this.index.get(key);
    if (!entry) return undefined;
    this.policy.touch(key);
    let file: Buffer;
    try {
      // A RAM disk answers at memory speed: a thread hand-off would cost more than the copy.
      file = this.medium === 'MEM' ? readFileSync(entry.file) : await readFile(entry.file);
    } catch (err) {
      // Evicted meanwhile, or deleted behind our back: a miss either way.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err, file: entry.file }, 'page read failed');
      this.dropEntry(key, entry, false);
      return undefined;
    }
    const data = decodePage(file, key);
    if (typeof data === 'string') {
      // Concurrent readers of one damaged page all see the damage: only the one that drops the
      // page reports it, so each bad page counts once.
      if (this.index.get(key) === entry) this.events.corrupt(this.label, key, data);
      this.dropEntry(key, entry, true);
      return undefined;
    }
    return data;
  }

  /**
   * Writes a page (tmp file + rename). Victims evicted to make room are handed to `demote`
   * (or just deleted when there is no lower tier). Never rejects: a failed write is logged and
   * the page is simply not cached here.
   */
  insert(key: string, data: Buffer, demote?: Demote): Promise<void> {
    if (this.index.has(key)) {
      this.policy.touch(key);
      return Promise.resolve();
    }
    const inFlight = this.writing.get(key);
    if (inFlight) return inFlight;
    const header = encodeHeader(key, data);
    const fileBytes = header.length + data.length;
    if (!fitsTier(this, fileBytes)) return Promise.resolve();
    const victims = this.evictFor(fileBytes);
    this.used += fileBytes; // reserved now so concurrent inserts see the space as taken
    const done = this.writePage(key, header, data, fileBytes, victims, demote).finally(() => this.writing.delete(key));
    this.writing.set(key, done);
    return done;
  }

  /** Removes the page, after a write of it in flight (a write-behind copy, say) has landed. */
  async delete(key: string): Promise<void> {
    const writing = this.writing.get(key);
    if (writing) await writing;
    const entry = this.index.get(key);
    if (entry) await this.dropEntry(key, entry, true);
  }

  /** Waits for queued writes and deletes. */
  async drain(): Promise<void> {
    while (this.writing.size > 0) await Promise.all([...this.writing.values()]);
    await this.queue.drain();
  }

  private async writePage(
    key: string,
    header: Buffer,
    data: Buffer,
    fileBytes: number,
    victims: [string, DiskEntry][],
    demote?: Demote,
  ): Promise<void> {
    const demotions: Promise<void>[] = [];
    // The victims' files go first, so the disk never holds more than the quota.
    await Promise.all(
      victims.map(async ([vkey, ventry]) => {
        const vdata = await this.queue.run(vkey, () => this.takeFile(vkey, ventry, demote !== undefined));
        if (vdata && demote) demotions.push(demote(vkey, vdata));
      }),
    );
    const file = this.fileFor(key);
    try {
      await this.queue.run(key, async () => {
        const tmp = `${file}.${process.pid}.${++tmpCounter}.tmp`;
        try {
          if (this.medium === 'MEM') writeRamPage(tmp, file, header, data);
          else {
            const fh = await open(tmp, 'w');
            try {
              await fh.writev([header, data]);
            } finally {
              await fh.close();
            }
            await rename(tmp, file);
          }
        } catch (err) {
          await unlink(tmp).catch(() => undefined);
          throw err;
        }
      });
      this.index.set(key, { file, fileBytes, dataLength: data.length });
      this.policy.add(key);
      this.events.added(key, data.length);
    } catch (err) {
      this.used -= fileBytes;
      this.log.warn({ err, tier: this.label }, 'page write failed; page not cached on this tier');
    }
    await Promise.all(demotions);
  }

  /** Removes pages from the index (sync) until `size` more bytes fit under the low watermark. */
  private evictFor(size: number): [string, DiskEntry][] {
    const victims: [string, DiskEntry][] = [];
    if (!mustEvict(this, this.used, size)) return victims;
    while (this.index.size > 0 && !evictedEnough(this, this.used, size)) {
      const key = this.policy.peek()!;
      const entry = this.index.get(key)!;
      this.forget(key, entry);
      this.evictions++;
      this.events.evicted(this.label);
      victims.push([key, entry]);
    }
    return victims;
  }

  /** Reads (if wanted, verified) and deletes an evicted page's file. */
  private async takeFile(key: string, entry: DiskEntry, wantData: boolean): Promise<Buffer | undefined> {
    let data: Buffer | undefined;
    if (wantData) {
      try {
        const decoded = decodePage(await readFile(entry.file), key);
        if (typeof decoded === 'string') this.events.corrupt(this.label, key, decoded);
        else data = decoded;
      } catch {
        // Unreadable victim: nothing to demote.
      }
    }
    await this.unlinkQuietly(entry.file);
    return data;
  }

  private dropEntry(key: string, entry: DiskEntry, deleteFile: boolean): Promise<void> {
    // Only if the index still points at the entry we looked at: a newer write stays.
    if (this.index.get(key) !== entry) return Promise.resolve();
    this.forget(key, entry);
    return deleteFile ? this.queue.run(key, () => this.unlinkQuietly(entry.file)) : Promise.resolve();
  }

  private forget(key: string, entry: DiskEntry): void {
    this.index.delete(key);
    this.policy.remove(key);
    this.used -= entry.fileBytes;
    this.events.removed(key, entry.dataLength);
  }

  private async unlinkQuietly(file: string): Promise<void> {
    try {
      await unlink(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err, file }, 'could not delete page file');
    }
  }

  private fileFor(key: string): string {
    return pageFileName(this.pagesDir, key);
  }

  /** Builds the index from the page files left by a previous run; damaged files are removed. */
  private async rebuildIndex(): Promise<void> {
    const subdirs = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
    await Promise.all(subdirs.map((d) => mkdir(join(this.pagesDir, d), { recursive: true })));
    const files: string[] = [];
    for (const d of subdirs) {
      for (const name of await readdir(join(this.pagesDir, d))) files.push(join(this.pagesDir, d, name));
    }
    const found: { key: string; entry: DiskEntry; mtimeMs: number }[] = [];
    await forEachLimit(files, SCAN_CONCURRENCY, async (file) => {
      if (file.endsWith('.tmp')) {
        await this.unlinkQuietly(file); // a write interrupted by a crash
        return;
      }
      const page = await this.readHeader(file);
      if (typeof page === 'string') {
        this.events.corrupt(this.label, file, page);
        await this.unlinkQuietly(file);
        return;
      }
      found.push(page);
    });
    // Oldest first, so the least recently written pages are the first LRU victims.
    found.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const { key, entry } of found) {
      this.index.set(key, entry);
      this.policy.add(key);
      this.used += entry.fileBytes;
      this.events.added(key, entry.dataLength);
    }
    // The quota may have shrunk since the last run.
    if (this.used > this.quota * this.high) {
      const victims = this.evictFor(0);
      await Promise.all(victims.map(([k, e]) => this.queue.run(k, () => this.unlinkQuietly(e.file))));
    }
  }

  private async readHeader(file: string): Promise<{ key: string; entry: DiskEntry; mtimeMs: number } | string> {
    let fh;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      return `unreadable: ${(err as Error).message}`;
    }
    try {
      const st = await fh.stat();
      const buf = Buffer.alloc(Math.min(st.size, FIXED_HEADER + MAX_KEY_BYTES));
      await fh.read(buf, 0, buf.length, 0);
      const h = decodeHeader(buf);
      if (typeof h === 'string') return h;
      if (st.size !== h.headerLength + h.dataLength) return 'length mismatch';
      if (this.fileFor(h.key) !== file) return 'file name does not match its key';
      return { key: h.key, entry: { file, fileBytes: st.size, dataLength: h.dataLength }, mtimeMs: st.mtimeMs };
    } finally {
      await fh.close();
    }
  }
}

async function forEachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(lanes);
}

/** Writes a page file on a RAM disk synchronously (a memory copy), via a temp file and rename. */
function writeRamPage(tmp: string, file: string, header: Buffer, data: Buffer): void {
  const fd = openSync(tmp, 'w');
  try {
    const n = writevSync(fd, [header, data]);
    if (n !== header.length + data.length) throw new Error(`short write to ${tmp}: ${n} of ${header.length + data.length} bytes (RAM disk full?)`);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
