import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ReadAhead, type FileRef } from '../worker/client/readahead.js';
import { TtlCache } from '../worker/client/ttl-cache.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** An in-memory "file" per version, recording every fetch the read-ahead makes. */
function source(files: Record<string, Buffer>) {
  const calls: { version: string; offset: number; length: number }[] = [];
  let failWindowsAt: number | undefined;
  const fetch = async ({ version }: FileRef, offset: number, length: number): Promise<Buffer> => {
    calls.push({ version, offset, length });
    await new Promise((r) => setTimeout(r, 1));
    if (failWindowsAt !== undefined && offset === failWindowsAt && length > 128 * KiB) throw new Error('injected prefetch failure');
    const data = files[version]!;
    return Buffer.from(data.subarray(offset, Math.min(data.length, offset + length)));
  };
  return { fetch, calls, failAt: (o: number | undefined) => (failWindowsAt = o) };
}

const ref = (path: string, version: string, size: number): FileRef => ({ path, version, size });

describe('ReadAhead', () => {
  it('copies into the caller\'s buffer and recycles piece buffers without ever mixing bytes', async () => {
    const files: Record<string, Buffer> = { a: randomBytes(12 * MiB), b: randomBytes(12 * MiB) };
    const src = source(files);
    const ra = new ReadAhead(src.fetch, 2 * MiB, 4 * MiB);
    const dest = Buffer.alloc(128 * KiB);
    // Two interleaved sequential streams under a budget of two windows: pieces are dropped and
    // their buffers reused all the time, and every read must still be exact.
    for (let off = 0; off < 12 * MiB; off += 128 * KiB) {
      for (const v of ['a', 'b']) {
        const n = await ra.readInto(ref(`/${v}`, v, files[v]!.length), off, 128 * KiB, dest);
        expect(n).toBe(128 * KiB);
        expect(dest.equals(files[v]!.subarray(off, off + 128 * KiB))).toBe(true);
      }
    }
    expect(ra.bufferedBytes).toBeLessThanOrEqual(4 * MiB);
  });

  it('serves sequential 128 KiB reads byte-exactly with few, large fetches', async () => {
    const data = randomBytes(20 * MiB + 12345);
    const src = source({ v1: data });
    const ra = new ReadAhead(src.fetch, 8 * MiB, 64 * MiB);
    const out: Buffer[] = [];
    for (let off = 0; off < data.length; off += 128 * KiB) {
      out.push(await ra.read(ref('/f', 'v1', data.length), off, Math.min(128 * KiB, data.length - off)));
    }
    expect(Buffer.concat(out).equals(data)).toBe(true);
    // 161 reads; the first two go direct, the rest come from 2 MiB pieces (a quarter window).
    expect(src.calls.length).toBeLessThanOrEqual(2 + Math.ceil(data.length / (2 * MiB)) + 1);
    expect(ra.bufferedBytes).toBeLessThanOrEqual(64 * MiB);
  });

  it('does not prefetch random reads', async () => {
    const data = randomBytes(32 * MiB);
    const src = source({ v1: data });
    const ra = new ReadAhead(src.fetch, 8 * MiB, 64 * MiB);
    for (const off of [20 * MiB, 3 * MiB, 28 * MiB, 9 * MiB, 15 * MiB]) {
      const b = await ra.read(ref('/f', 'v1', data.length), off, 4096);
      expect(b.equals(data.subarray(off, off + 4096))).toBe(true);
    }
    expect(src.calls.every((c) => c.length === 4096)).toBe(true);
  });

  it('never serves bytes of an older version', async () => {
    const v1 = Buffer.alloc(4 * MiB, 1);
    const v2 = Buffer.alloc(4 * MiB, 2);
    const src = source({ v1, v2 });
    const ra = new ReadAhead(src.fetch, 2 * MiB, 64 * MiB);
    await ra.read(ref('/f', 'v1', v1.length), 0, 128 * KiB);
    await ra.read(ref('/f', 'v1', v1.length), 128 * KiB, 128 * KiB); // prefetches v1 ahead
    const b = await ra.read(ref('/f', 'v2', v2.length), 256 * KiB, 128 * KiB);
    expect(b.equals(v2.subarray(256 * KiB, 384 * KiB))).toBe(true);
    const c = await ra.read(ref('/f', 'v2', v2.length), 384 * KiB, 128 * KiB);
    expect(c.every((x) => x === 2)).toBe(true);
  });

  it('falls back to a direct read when a prefetch failed', async () => {
    const data = randomBytes(8 * MiB);
    const src = source({ v1: data });
    src.failAt(256 * KiB);
    const ra = new ReadAhead(src.fetch, 2 * MiB, 64 * MiB);
    const out: Buffer[] = [];
    for (let off = 0; off < data.length; off += 128 * KiB) out.push(await ra.read(ref('/f', 'v1', data.length), off, 128 * KiB));
    expect(Buffer.concat(out).equals(data)).toBe(true);
  });

  it('keeps all streams within the buffer budget', async () => {
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 6; i++) files[`v${i}`] = randomBytes(6 * MiB);
    const src = source(files);
    const ra = new ReadAhead(src.fetch, 4 * MiB, 8 * MiB);
    for (let off = 0; off < 6 * MiB; off += 128 * KiB) {
      await Promise.all(
        Object.entries(files).map(async ([v, d]) => {
          const b = await ra.read(ref(`/${v}`, v, d.length), off, 128 * KiB);
          expect(b.equals(d.subarray(off, off + 128 * KiB))).toBe(true);
          expect(ra.bufferedBytes).toBeLessThanOrEqual(8 * MiB);
        }),
      );
    }
  });
});

describe('ReadAhead answering at once', () => {
  it('returns a plain byte count when the bytes are at hand (an arrived piece, or fetchNow), a promise otherwise', async () => {
    const data = randomBytes(8 * MiB);
    const file = ref('/f', 'v1', data.length);
    const src = source({ v1: data });
    let nowCalls = 0;
    // fetchNow knows only the first 256 KiB (as a RAM disk holding some pages would).
    const fetchNow = (_f: FileRef, offset: number, length: number, into?: Buffer): Buffer | undefined => {
      nowCalls++;
      if (offset + length > 256 * KiB) return undefined;
      const out = into ?? Buffer.allocUnsafe(length);
      data.copy(out, 0, offset, offset + length);
      return out;
    };
    const ra = new ReadAhead(src.fetch, 2 * MiB, 8 * MiB, fetchNow);
    const dest = Buffer.alloc(128 * KiB);
    const first = ra.readInto(file, 0, 128 * KiB, dest);
    expect(first).toBe(128 * KiB); // from fetchNow, no promise
    expect(dest.equals(data.subarray(0, 128 * KiB))).toBe(true);
    // Far from anything known: a promise, through the async fetcher.
    const far = ra.readInto(file, 6 * MiB, 128 * KiB, dest);
    expect(far).toBeInstanceOf(Promise);
    expect(await far).toBe(128 * KiB);
    expect(dest.equals(data.subarray(6 * MiB, 6 * MiB + 128 * KiB))).toBe(true);
    // A sequential stream: once its pieces arrived, reads inside them are answered at once.
    let sync = 0;
    for (let off = 0; off < 4 * MiB; off += 128 * KiB) {
      const r = ra.readInto(file, off, 128 * KiB, dest);
      if (typeof r === 'number') sync++;
      expect(await r).toBe(128 * KiB);
      expect(dest.equals(data.subarray(off, off + 128 * KiB))).toBe(true);
      await new Promise((r) => setTimeout(r, 2)); // let prefetches land
    }
    expect(sync).toBeGreaterThan(20);
    expect(nowCalls).toBeGreaterThan(0);
  });
});

describe('TtlCache', () => {
  it('peek answers only fresh values, never errors, and never loads', async () => {
    const c = new TtlCache<number>(60_000, 10, () => true);
    expect(c.peek('a')).toBeUndefined();
    c.set('a', 1);
    expect(c.peek('a')).toBe(1);
    await expect(c.get('b', () => Promise.reject(new Error('missing')))).rejects.toThrow('missing');
    expect(c.peek('b')).toBeUndefined();
    const short = new TtlCache<number>(1);
    short.set('x', 5);
    await new Promise((r) => setTimeout(r, 5));
    expect(short.peek('x')).toBeUndefined();
  });


  it('coalesces concurrent loads and caches chosen errors', async () => {
    let loads = 0;
    const c = new TtlCache<number>(60_000, 10, (e) => (e as Error).message === 'missing');
    const load = async (): Promise<number> => {
      loads++;
      await new Promise((r) => setTimeout(r, 5));
      return 42;
    };
    expect(await Promise.all([c.get('a', load), c.get('a', load), c.get('a', load)])).toEqual([42, 42, 42]);
    expect(await c.get('a', load)).toBe(42);
    expect(loads).toBe(1);
    const missing = (): Promise<number> => {
      loads++;
      return Promise.reject(new Error('missing'));
    };
    await expect(c.get('b', missing)).rejects.toThrow('missing');
    await expect(c.get('b', missing)).rejects.toThrow('missing');
    expect(loads).toBe(2);
    const flaky = (): Promise<number> => {
      loads++;
      return Promise.reject(new Error('flaky'));
    };
    await expect(c.get('c', flaky)).rejects.toThrow('flaky');
    await expect(c.get('c', flaky)).rejects.toThrow('flaky');
    expect(loads).toBe(4);
  });
});
