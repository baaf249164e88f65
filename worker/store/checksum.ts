import { createRequire } from 'node:module';
import { crc32 as zlibCrc32 } from 'node:zlib';

// CRC-32 (the zlib polynomial, so page files stay readable either way) of page data. Checked on
// every read of a disk page and of a page read short-circuit, so its speed is read speed:
// @node-rs/crc32 (SIMD, a prebuilt binary per platform) runs about 6x faster than node:zlib
// here (0.05 against 0.32 ms per MiB). Where no binary fits the platform, zlib's is used.
type Crc32 = (data: Uint8Array) => number;

function load(): Crc32 {
  try {
    const native = createRequire(import.meta.url)('@node-rs/crc32') as { crc32(data: Uint8Array, initial?: number): number };
    return (data) => native.crc32(data);
  } catch {
    return (data) => zlibCrc32(data);
  }
}

export const crc32: Crc32 = load();
