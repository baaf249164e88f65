import { closeSync, openSync, readvSync } from 'node:fs';
import { crc32 } from '../store/checksum.js';
import { decodeHeader } from '../store/page-file.js';

// Reading one page file short-circuit, shared by the client's own thread (small reads) and the
// read thread (page-read-worker.ts): a page is read whole and checked before any of it is used.

/** One page of a short-circuit read: which file, what it must hold, and where its wanted part goes. */
export interface PageRead {
  key: string;
  file: string;
  expected: number;
  headerLength: number;
  pageStart: number;
  /** The wanted part, as absolute file offsets, and the read's own offset (where out begins). */
  from: number;
  to: number;
  offset: number;
}

/** Why a page file read short-circuit cannot be used, or 'ok'. Only 'checksum' is worth a warning. */
export type PageVerdict = 'ok' | 'missing' | 'header' | 'checksum';

/** A page file's header and data, checked against the page wanted: header, key, length, data CRC. */
export function checkPage(p: PageRead, header: Buffer, data: Uint8Array): PageVerdict {
  const h = decodeHeader(header);
  if (typeof h === 'string' || h.key !== p.key || h.dataLength !== p.expected) return 'header';
  return crc32(data) === h.dataCrc ? 'ok' : 'checksum';
}

/** True when the whole page lands in the read's output (no scratch buffer, no copy). */
export function wholePage(p: PageRead): boolean {
  return p.from === p.pageStart && p.to === p.pageStart + p.expected;
}

/** Where a page is read to: in place in `out` when it is wanted whole, else `scratch` (then cut). */
export function pageTarget(p: PageRead, out: Buffer, scratch: (n: number) => Buffer): Buffer {
  return wholePage(p) ? out.subarray(p.from - p.offset, p.to - p.offset) : scratch(p.expected);
}

/** Copies the wanted part of a page read into scratch out to its place; nothing when it was read in place. */
export function cutInto(p: PageRead, target: Buffer, out: Buffer): void {
  if (!wholePage(p)) target.copy(out, p.from - p.offset, p.from - p.pageStart, p.to - p.pageStart);
}

/** The header and scratch buffers a synchronous reader reuses, grown as needed. */
export class PageBuffers {
  private head = Buffer.allocUnsafe(4096);
  private page = Buffer.allocUnsafe(0);

  header(n: number): Buffer {
    if (this.head.length < n) this.head = Buffer.allocUnsafe(n);
    return this.head.subarray(0, n);
  }

  scratch(n: number): Buffer {
    if (this.page.length < n) this.page = Buffer.allocUnsafe(n);
    return this.page.subarray(0, n);
  }
}

/** Reads, checks and places one page file synchronously (a memory copy on a RAM disk). */
export function readPageSync(p: PageRead, out: Buffer, bufs: PageBuffers): PageVerdict {
  const header = bufs.header(p.headerLength);
  const target = pageTarget(p, out, (n) => bufs.scratch(n));
  let fd: number;
  try {
    fd = openSync(p.file, 'r');
  } catch {
    return 'missing'; // not cached there (or evicted meanwhile)
  }
  try {
    if (readvSync(fd, [header, target], 0) !== p.headerLength + p.expected) return 'header';
  } catch {
    return 'missing';
  } finally {
    closeSync(fd);
  }
  const verdict = checkPage(p, header, target);
  if (verdict === 'ok') cutInto(p, target, out);
  return verdict;
}
