/**
 * Fast, stable, non-cryptographic string hashing for placement. Placement must never change
 * between releases or processes (every client must agree on owners), so this is a fixed
 * algorithm (MurmurHash3 x86_32 over UTF-8 with two seeds, 53 bits) rather than anything
 * platform-provided.
 */
const encoder = new TextEncoder();

function murmur3(bytes: Uint8Array, seed: number): number {
  let h = seed >>> 0;
  const n = bytes.length;
  const tail = n & ~3;
  for (let i = 0; i < tail; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = n & 3;
  if (rest > 0) {
    let k = 0;
    if (rest === 3) k ^= bytes[tail + 2]! << 16;
    if (rest >= 2) k ^= bytes[tail + 1]! << 8;
    k ^= bytes[tail]!;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= n;
  return fmix32(h);
}

/** MurmurHash3's finaliser: full avalanche of a 32-bit value. */
export function fmix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Two independent 32-bit hashes of a string (a 64-bit hash kept in two unsigned lanes). */
export function hash64(s: string): [number, number] {
  const bytes = encoder.encode(s);
  return [murmur3(bytes, 0x9747b28c), murmur3(bytes, 0x5bd1e995)];
}

/**
 * Mixes a key hash with a node hash into one score in [0, 2^53): the rendezvous weight of that
 * node for that key. Both lanes feed both halves so a weak lane cannot bias the ranking.
 */
export function combine(k: [number, number], n: [number, number]): number {
  const a = fmix32((k[0] ^ n[0]) + Math.imul(k[1] ^ n[1], 0x9e3779b1));
  const b = fmix32((k[1] ^ n[1]) ^ Math.imul(a, 0x85ebca6b) ^ n[0]);
  return a * 2 ** 21 + (b >>> 11);
}
