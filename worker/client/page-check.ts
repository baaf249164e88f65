import { crc32 } from '../store/checksum.js';
import { decodeHeader } from '../store/page-file.js';

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
