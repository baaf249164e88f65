import type { Readable } from 'node:stream';
import { HoardError, type ErrorCode } from '../../lib/errors.js';

/** Reads a whole stream into one Buffer. */
export async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** Resolves with the HoardError code a promise rejects with; fails if it resolves or throws something else. */
export async function errorCode(p: Promise<unknown> | (() => unknown)): Promise<ErrorCode> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof HoardError) return e.code;
    throw e;
  }
  throw new Error('expected a HoardError, but the call succeeded');
}

/** Deterministic pseudo-random bytes, so failures are reproducible. */
export function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}
