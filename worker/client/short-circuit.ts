import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from '../store/checksum.js';
import type { Logger } from '../../lib/log.js';
import { decodeHeader, FIXED_HEADER, pageFileName } from '../store/page-file.js';
import { fileId, pageKey, pageLength, pageSpan } from '../store/page-key.js';
import { verifyShortCircuit, type ShortCircuitInfo } from '../store/short-circuit.js';
import type { FileRef } from './readahead.js';

/** Pages remembered per worker between two Touch calls; more in one interval are not reported. */
const MAX_TOUCHED = 65_536;

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
  private header = Buffer.allocUnsafe(FIXED_HEADER + 1024);
  private page: Buffer | undefined;
  /** Pages served from page files, for tests and logs. */
  pagesRead = 0;
  /** Keys read directly since the last flush, per worker: the worker's eviction policy must hear of them. */
  private readonly touched = new Map<string, Set<string>>();

  constructor(private readonly logger?: Logger) {}

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
   */
  read(workerId: string, file: FileRef, offset: number, length: number, dest?: Buffer): Buffer | undefined {
    const sc = this.dirs.get(workerId);
    if (sc === undefined || file.version === '') return undefined;
    const span = pageSpan(file.size, offset, length, sc.pageSize);
    if (span === undefined || span.end - span.start !== length) return undefined;
    const out = dest !== undefined && dest.length >= length ? dest.subarray(0, length) : Buffer.allocUnsafe(length);
    const fid = fileId(file.path, file.version);
    const keys: string[] = [];
    for (let index = span.firstPage; index <= span.lastPage; index++) {
      const key = pageKey(fid, index);
      if (!this.readPage(sc, key, index, file.size, offset, out)) return undefined;
      keys.push(key);
    }
    this.pagesRead += keys.length;
    let seen = this.touched.get(workerId);
    if (seen === undefined) this.touched.set(workerId, (seen = new Set()));
    for (const k of keys) if (seen.size < MAX_TOUCHED) seen.add(k);
    return out;
  }

  /** Hands over, per worker, the pages read directly since the last call (for Touch). */
  drainTouched(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [id, keys] of this.touched) if (keys.size > 0) out.set(id, [...keys]);
    this.touched.clear();
    return out;
  }

  /** Copies the part of page `index` inside [offset, offset+out.length) into out; false if the page is not usable. */
  private readPage(sc: ShortCircuitInfo, key: string, index: number, size: number, offset: number, out: Buffer): boolean {
    const expected = pageLength(size, index, sc.pageSize);
    const pageStart = index * sc.pageSize;
    const from = Math.max(offset, pageStart);
    const to = Math.min(offset + out.length, pageStart + expected);
    const headerLength = FIXED_HEADER + Buffer.byteLength(key);
    if (this.header.length < headerLength) this.header = Buffer.allocUnsafe(headerLength);
    let fd: number;
    try {
      fd = openSync(pageFileName(join(sc.dir, 'pages'), key), 'r');
    } catch {
      return false; // not cached there (or evicted meanwhile)
    }
    try {
      if (readSync(fd, this.header, 0, headerLength, 0) !== headerLength) return false;
      const h = decodeHeader(this.header.subarray(0, headerLength));
      if (typeof h === 'string' || h.key !== key || h.dataLength !== expected) return false;
      // A whole page lands in place; a part of one is read whole, checked, then cut.
      const whole = from === pageStart && to === pageStart + expected;
      const target = whole ? out.subarray(from - offset, to - offset) : this.scratch(expected);
      if (readSync(fd, target, 0, expected, headerLength) !== expected) return false;
      if (crc32(target) !== h.dataCrc) {
        this.logger?.warn({ dir: sc.dir, page: key }, 'short-circuit: page file failed its checksum; reading through the worker');
        return false;
      }
      if (!whole) target.copy(out, from - offset, from - pageStart, to - pageStart);
      return true;
    } catch {
      return false;
    } finally {
      closeSync(fd);
    }
  }

  private scratch(n: number): Buffer {
    if (this.page === undefined || this.page.length < n) this.page = Buffer.allocUnsafe(n);
    return this.page.subarray(0, n);
  }
}
