import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../lib/log.js';
import { FIXED_HEADER, pageFileRelative } from '../store/page-file.js';
import { fileId, pageKey, pageLength, pageSpan } from '../store/page-key.js';
import { verifyShortCircuit, type ShortCircuitInfo } from '../store/short-circuit.js';
import { checkPage, cutInto, PageBuffers, pageTarget, readPageSync, type PageRead, type PageVerdict } from './page-read.js';
import { PageReadThread } from './page-read-thread.js';
import type { FileRef } from './readahead.js';
import type { TouchReport } from './types.js';

/** Page file names remembered (a sha256 per page read is a measurable share of a warm read). */
const MAX_NAMES = 65_536;
/** Pages named per worker between two Touch calls; reads of further pages are reported as a count. */
const MAX_TOUCHED = 65_536;
/** A page's read count saturates here (Touch carries it as uint32): a second's reads never get near. */
const MAX_READS_PER_PAGE = 0xffff_ffff;

/**
 * The client side of short-circuit reads (worker/store/short-circuit.ts): pages a worker on this
 * host keeps as files on a RAM file system are read straight from those files. Reads are
 * synchronous on purpose: a page file on tmpfs is a memory copy, cheaper than any hand-off to a
 * thread, and the directory is only used once verified to be on a RAM file system. A page is
 * used only whole and checked (header, key, length, data checksum); anything missing or wrong
 * makes the caller read through the worker as usual, so this path can only make reads faster.
 */
export class ShortCircuitReader {
  private readonly dirs = new Map<string, ShortCircuitInfo>();
  private readonly asked = new Set<string>();
  private readonly bufs = new PageBuffers();
  /** Pages served from page files, for tests and logs; and how many of them the read thread filled. */
  pagesRead = 0;
  pagesReadByThread = 0;
  /**
   * Pages read directly since the last flush, per worker, with how many times each was read: the
   * worker's eviction policy must hear of them, and its hit count must count every read.
   */
  private readonly touched = new Map<string, { reads: Map<string, number>; unlisted: number }>();
  private readonly names = new Map<string, string>();

  private readonly thread: PageReadThread;

  constructor(private readonly logger?: Logger) {
    this.thread = new PageReadThread(logger);
  }

  /** Page file names remembered (at most MAX_NAMES). */
  get namesRemembered(): number {
    return this.names.size;
  }

  async close(): Promise<void> {
    await this.thread.close();
  }

  /** Asks a worker, once and in the background, whether its pages can be read here. */
  probe(workerId: string, stats: () => Promise<{ shortCircuit?: ShortCircuitInfo }>): void {
    if (this.asked.has(workerId)) return;
    this.asked.add(workerId);
    stats().then(
      (s) => {
        if (s.shortCircuit && verifyShortCircuit(s.shortCircuit)) {
          this.dirs.set(workerId, s.shortCircuit);
          this.logger?.info({ worker: workerId, dir: s.shortCircuit.dir }, 'reading this worker\'s cached pages directly from its RAM disk');
        }
      },
      () => this.asked.delete(workerId), // ask again on a later read
    );
  }

  /**
   * [offset, offset+length) of `file` (within its size) from worker `workerId`'s page files,
   * into `dest` (or a new buffer); undefined unless every page was there and intact.
   * Synchronous: for small reads, where a thread hand-off would cost more than the copy.
   */
  read(workerId: string, file: FileRef, offset: number, length: number, dest?: Buffer): Buffer | undefined {
    const plan = this.plan(workerId, file, offset, length, dest);
    if (plan === undefined) return undefined;
    for (const page of plan.pages) if (!this.readPageSync(plan.sc, page, plan.out)) return undefined;
    this.served(workerId, plan.pages);
    return plan.out;
  }

  /**
   * Like read(), off the main thread: for large ranges (read-ahead pieces), whose copies and
   * checksums would otherwise hold up every FUSE request behind them. Into shared memory, the
   * read thread does all of it; elsewhere the file I/O runs on libuv's threads.
   */
  async readAsync(workerId: string, file: FileRef, offset: number, length: number, dest?: Buffer): Promise<Buffer | undefined> {
    const plan = this.plan(workerId, file, offset, length, dest);
    if (plan === undefined) return undefined;
    if (this.thread.canFill(plan.out)) {
      const done = await this.thread.read(plan.out, plan.pages);
      if (done.verdict !== 'ok') {
        this.refuse(plan.sc, done.key, done.verdict);
        return undefined;
      }
      this.pagesReadByThread += plan.pages.length;
    } else {
      const ok = await Promise.all(plan.pages.map((page) => this.readPageAsync(plan.sc, page, plan.out)));
      if (ok.includes(false)) return undefined;
    }
    this.served(workerId, plan.pages);
    return plan.out;
  }

  /** Hands over, per worker, the pages read directly since the last call and how often (for Touch). */
  drainTouched(): Map<string, TouchReport> {
    const out = new Map<string, TouchReport>();
    for (const [id, t] of this.touched) {
      if (t.reads.size === 0 && t.unlisted === 0) continue;
      out.set(id, { keys: [...t.reads.keys()], reads: [...t.reads.values()], unlistedReads: t.unlisted });
    }
    this.touched.clear();
    return out;
  }

  private plan(workerId: string, file: FileRef, offset: number, length: number, dest?: Buffer): { sc: ShortCircuitInfo; out: Buffer; pages: PageRead[] } | undefined {
    const sc = this.dirs.get(workerId);
    if (sc === undefined || file.version === '') return undefined;
    const span = pageSpan(file.size, offset, length, sc.pageSize);
    if (span === undefined || span.end - span.start !== length) return undefined;
    const out = dest !== undefined && dest.length >= length ? dest.subarray(0, length) : Buffer.allocUnsafe(length);
    const fid = fileId(file.path, file.version);
    const pages: PageRead[] = [];
    for (let index = span.firstPage; index <= span.lastPage; index++) {
      const key = pageKey(fid, index);
      const expected = pageLength(file.size, index, sc.pageSize);
      const pageStart = index * sc.pageSize;
      const from = Math.max(offset, pageStart);
      const to = Math.min(offset + length, pageStart + expected);
      pages.push({ key, file: join(sc.dir, 'pages', this.relativeName(key)), expected, headerLength: FIXED_HEADER + Buffer.byteLength(key), pageStart, from, to, offset });
    }
    return { sc, out, pages };
  }

  private relativeName(key: string): string {
    let name = this.names.get(key);
    if (name === undefined) {
      if (this.names.size >= MAX_NAMES) this.names.clear();
      name = pageFileRelative(key);
      this.names.set(key, name);
    }
    return name;
  }

  private served(workerId: string, pages: PageRead[]): void {
    this.pagesRead += pages.length;
    let t = this.touched.get(workerId);
    if (t === undefined) this.touched.set(workerId, (t = { reads: new Map(), unlisted: 0 }));
    for (const p of pages) {
      const n = t.reads.get(p.key);
      if (n !== undefined) t.reads.set(p.key, Math.min(MAX_READS_PER_PAGE, n + 1));
      else if (t.reads.size < MAX_TOUCHED) t.reads.set(p.key, 1);
      else t.unlisted++;
    }
  }

  private readPageSync(sc: ShortCircuitInfo, p: PageRead, out: Buffer): boolean {
    const verdict = readPageSync(p, out, this.bufs);
    if (verdict !== 'ok') this.refuse(sc, p.key, verdict);
    return verdict === 'ok';
  }

  private async readPageAsync(sc: ShortCircuitInfo, p: PageRead, out: Buffer): Promise<boolean> {
    const header = Buffer.allocUnsafe(p.headerLength);
    const target = pageTarget(p, out, (n) => Buffer.allocUnsafe(n));
    let fh: FileHandle;
    try {
      fh = await open(p.file, 'r');
    } catch {
      return false;
    }
    try {
      const { bytesRead } = await fh.readv([header, target], 0);
      return bytesRead === p.headerLength + p.expected && this.check(sc, p, header, target, out);
    } catch {
      return false;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /** Header, key, length and data checksum; then the wanted part of a page read whole is copied out. */
  private check(sc: ShortCircuitInfo, p: PageRead, header: Buffer, target: Buffer, out: Buffer): boolean {
    const verdict = checkPage(p, header, target);
    if (verdict !== 'ok') {
      this.refuse(sc, p.key, verdict);
      return false;
    }
    cutInto(p, target, out);
    return true;
  }

  /** A page that cannot be used (the read goes through the worker); a bad checksum is worth a warning. */
  private refuse(sc: ShortCircuitInfo, key: string | undefined, verdict: PageVerdict): void {
    if (verdict === 'checksum') this.logger?.warn({ dir: sc.dir, page: key }, 'short-circuit: page file failed its checksum; reading through the worker');
  }
}
