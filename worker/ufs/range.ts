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
 * our Range header (or sent more than asked) still gives exactly the requested bytes. Errors from
 * `src` (a reset connection mid-body) come out mapped by `mapError`, so readers always see a
 * HoardError. Destroying the returned stream destroys `src` too (the generator's return closes it).
 */
export function sliceStream(src: Readable, skip: number, take: number, mapError: (e: unknown) => unknown = (e) => e): Readable {
  async function* window(): AsyncGenerator<Buffer> {
    if (take <= 0) {
      src.destroy();
      return;
    }
    let seen = 0;
    try {
      for await (const chunk of src as AsyncIterable<Buffer>) {
        const start = seen;
        seen += chunk.length;
        const from = Math.max(0, skip - start);
        const to = Math.min(chunk.length, skip + take - start);
        if (to > from) yield from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to);
        if (seen >= skip + take) return;
      }
    } catch (e) {
      // An abort is the caller's own doing: it stays an AbortError, everything else gets mapped.
      throw (e as Error)?.name === 'AbortError' ? e : mapError(e);
    }
  }
  return Readable.from(window(), { objectMode: false });
}

export interface ContentRange {
  start: number;
  end: number;
  /** Object size, when the server tells it ('*' = unknown). */
  total?: number;
}

/** Parses `Content-Range: bytes START-END/TOTAL`. */
export function parseContentRange(h: string | undefined): ContentRange | undefined {
  const m = h ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(h.trim()) : null;
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/** The error a versioned read gets when the file under it changed (see Ufs.read). */
export function versionChanged(path: string, expected: string, now: string): HoardError {
  return new HoardError('FAILED_PRECONDITION', `${path}: changed since it was stat'ed (version "${expected}", now "${now}"); stat it again and retry`);
}
