import { Readable } from 'node:stream';
import { HoardError } from '../../lib/errors.js';

/** Refuses offsets/lengths that are not non-negative safe integers before any I/O happens. */
export function checkRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new HoardError('INVALID_ARGUMENT', `offset: ${offset} must be a non-negative integer`);
  }
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new HoardError('INVALID_ARGUMENT', `length: ${length} must be a non-negative integer`);
  }
}

export function emptyStream(): Readable {
  return Readable.from([]);
}

/**
 * Yields bytes [skip, skip+take) of `src` and then stops, destroying `src`; so a server that ignored
 * our Range header (or sent more than asked) still gives exactly the requested bytes. Destroying
 * the returned stream destroys `src` too (the generator's return closes the iterator).
 */
export function sliceStream(src: Readable, skip: number, take: number): Readable {
  async function* window(): AsyncGenerator<Buffer> {
    let seen = 0;
    for await (const chunk of src as AsyncIterable<Buffer>) {
      const start = seen;
      seen += chunk.length;
      const from = Math.max(0, skip - start);
      const to = Math.min(chunk.length, skip + take - start);
      if (to > from) yield from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to);
      if (seen >= skip + take) return;
    }
  }
  return Readable.from(window(), { objectMode: false });
}
