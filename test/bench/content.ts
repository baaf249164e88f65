import { createHash } from 'node:crypto';

/** Deterministic, incompressible bytes for a benchmark file, the same in every store. */
export function benchContent(name: string, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let block = createHash('sha256').update(name).digest();
  for (let off = 0; off < size; off += 32) {
    block.copy(out, off, 0, Math.min(32, size - off));
    // Cheap chaining keeps it fast for 256 MiB while staying incompressible enough for storage.
    if ((off & 0xfff) === 0) block = createHash('sha256').update(block).digest();
    else block[off & 31] ^= off & 0xff;
  }
  return out;
}
