import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { crc32 } from './checksum.js';

// On-disk page layout (little endian):
//   0  magic "HOARDPG1"            8 bytes
//   8  crc32 of bytes 12..header end  (guards the key and lengths)
//  12  key length K (utf8 bytes)
//  16  data length
//  20  crc32 of the data
//  24  key (K bytes), then the data
const MAGIC = Buffer.from('HOARDPG1', 'latin1');
export const FIXED_HEADER = 24;
/** Longest key we accept when scanning: PATH_MAX-ish path plus version and index. */
export const MAX_KEY_BYTES = 16 * 1024;

/** Where a tier keeps a page: <pagesDir>/<2 hex>/<sha256(key)> (clients reading short-circuit compute the same). */
export function pageFileName(pagesDir: string, key: string): string {
  return join(pagesDir, pageFileRelative(key));
}

/** The part of pageFileName below the pages directory: "<2 hex>/<sha256(key)>". */
export function pageFileRelative(key: string): string {
  const h = createHash('sha256').update(key).digest('hex');
  return `${h.slice(0, 2)}/${h}`;
}

export function encodeHeader(key: string, data: Buffer): Buffer {
  const keyBytes = Buffer.from(key, 'utf8');
  const header = Buffer.allocUnsafe(FIXED_HEADER + keyBytes.length);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(keyBytes.length, 12);
  header.writeUInt32LE(data.length, 16);
  header.writeUInt32LE(crc32(data), 20);
  keyBytes.copy(header, FIXED_HEADER);
  header.writeUInt32LE(crc32(header.subarray(12)), 8);
  return header;
}

export interface PageHeader {
  key: string;
  headerLength: number;
  dataLength: number;
  dataCrc: number;
}

/**
 * Parses and checks a header. `buf` must hold at least the whole header; returns a reason
 * string when the header is not a valid page header.
 */
export function decodeHeader(buf: Buffer): PageHeader | string {
  if (buf.length < FIXED_HEADER) return 'file shorter than a page header';
  if (!buf.subarray(0, 8).equals(MAGIC)) return 'bad magic';
  const keyLength = buf.readUInt32LE(12);
  if (keyLength > MAX_KEY_BYTES) return 'key length out of range';
  const headerLength = FIXED_HEADER + keyLength;
  if (buf.length < headerLength) return 'truncated header';
  if (crc32(buf.subarray(12, headerLength)) !== buf.readUInt32LE(8)) return 'header checksum mismatch';
  return {
    key: buf.toString('utf8', FIXED_HEADER, headerLength),
    headerLength,
    dataLength: buf.readUInt32LE(16),
    dataCrc: buf.readUInt32LE(20),
  };
}

/** Checks a whole page file; returns the data (a view into `file`, no copy) or a reason. */
export function decodePage(file: Buffer, expectedKey: string): Buffer | string {
  const h = decodeHeader(file);
  if (typeof h === 'string') return h;
  if (h.key !== expectedKey) return 'page file holds another key';
  if (file.length !== h.headerLength + h.dataLength) return 'length mismatch';
  const data = file.subarray(h.headerLength);
  if (crc32(data) !== h.dataCrc) return 'data checksum mismatch';
  return data;
}
