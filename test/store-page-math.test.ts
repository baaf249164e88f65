import { afterEach, describe, expect, it } from 'vitest';
import { CachedReader } from '../worker/store/cached-reader.js';
import { pageLength, pageSpan } from '../worker/store/page-key.js';
import { PageStore } from '../worker/store/page-store.js';
import { MemoryUfs, pattern } from './store-memory-ufs.js';

describe('pageSpan', () => {
  it('maps a range inside one page', () => {
    expect(pageSpan(10_000, 1_100, 200, 1000)).toEqual({ start: 1_100, end: 1_300, firstPage: 1, lastPage: 1 });
  });

  it('maps a range crossing page boundaries', () => {
    expect(pageSpan(10_000, 999, 1002, 1000)).toEqual({ start: 999, end: 2001, firstPage: 0, lastPage: 2 });
  });

  it('ends a range that stops exactly on a boundary in the page before it', () => {
    expect(pageSpan(10_000, 1000, 1000, 1000)).toEqual({ start: 1000, end: 2000, firstPage: 1, lastPage: 1 });
  });

  it('clamps at EOF', () => {
    expect(pageSpan(2500, 2000, 10_000, 1000)).toEqual({ start: 2000, end: 2500, firstPage: 2, lastPage: 2 });
  });

  it('is empty for zero length, at EOF, past EOF and for empty files', () => {
    expect(pageSpan(2500, 100, 0, 1000)).toBeUndefined();
    expect(pageSpan(2500, 2500, 10, 1000)).toBeUndefined();
    expect(pageSpan(2500, 9000, 10, 1000)).toBeUndefined();
    expect(pageSpan(0, 0, 10, 1000)).toBeUndefined();
  });

  it('gives the short length of the last page', () => {
    expect(pageLength(2500, 0, 1000)).toBe(1000);
    expect(pageLength(2500, 2, 1000)).toBe(500);
    expect(pageLength(2500, 3, 1000)).toBe(0);
  });
});

describe('CachedReader byte ranges', () => {
  let store: PageStore | undefined;
  afterEach(async () => {
    await store?.close();
  });

  async function setup(size: number) {
    const ufs = new MemoryUfs();
    ufs.chunkSize = 777; // chunks that never line up with pages
    const data = pattern(size, 7);
    const info = ufs.put('/d/file.bin', data);
    store = await PageStore.open({ pageSize: 1000, tiers: [{ medium: 'MEM', quota: 1_000_000 }] });
    const reader = new CachedReader(store, ufs, { pageSize: 1000 });
    return { ufs, data, info, reader };
  }

  it('returns exactly the requested bytes for ranges crossing pages, at EOF and past it', async () => {
    const { data, info, reader } = await setup(10_500);
    const cases: [number, number][] = [
      [0, 1],
      [0, 1000],
      [999, 2],
      [999, 1002],
      [1000, 1000],
      [2500, 4321],
      [10_000, 500],
      [10_400, 1000],
      [10_499, 1],
      [0, 10_500],
      [0, 50_000],
    ];
    for (const [offset, length] of cases) {
      const got = await reader.read(info, offset, length);
      expect(got.equals(data.subarray(offset, Math.min(data.length, offset + length))), `range ${offset}+${length}`).toBe(true);
    }
    // Random ranges once everything is cached, and again from a cold cache.
    let seed = 3;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    for (let i = 0; i < 200; i++) {
      const offset = rnd(11_000);
      const length = rnd(4000);
      const got = await reader.read(info, offset, length);
      expect(got.equals(data.subarray(offset, Math.min(data.length, offset + length)))).toBe(true);
    }
  });

  it('reads nothing from the UFS for zero-length and past-EOF reads', async () => {
    const { ufs, info, reader } = await setup(2500);
    expect((await reader.read(info, 100, 0)).length).toBe(0);
    expect((await reader.read(info, 2500, 10)).length).toBe(0);
    expect((await reader.read(info, 99_999, 10)).length).toBe(0);
    expect(ufs.calls.read).toBe(0);
  });

  it('fetches whole pages with one ranged read for a cold range crossing three pages', async () => {
    const { ufs, data, info, reader } = await setup(10_500);
    const got = await reader.read(info, 1500, 1600); // pages 1..3
    expect(got.equals(data.subarray(1500, 3100))).toBe(true);
    expect(ufs.reads).toEqual([{ path: '/d/file.bin', offset: 1000, length: 3000 }]);
    // The last, short page is fetched to EOF and no further.
    ufs.resetCounts();
    await reader.read(info, 10_200, 5000);
    expect(ufs.reads).toEqual([{ path: '/d/file.bin', offset: 10_000, length: 500 }]);
  });

  it('readSlices returns zero-copy page views that add up to the range', async () => {
    const { data, info, reader } = await setup(10_500);
    await reader.read(info, 0, 10_500);
    const parts = await reader.readSlices(info, 1500, 3600); // pages 1..5
    expect(parts.map((p) => p.length)).toEqual([500, 1000, 1000, 1000, 100]);
    expect(Buffer.concat(parts).equals(data.subarray(1500, 5100))).toBe(true);
    const again = await reader.readSlices(info, 2000, 1000);
    // Page 2 both times: the cached page itself, not a copy.
    expect(again[0].buffer === parts[1].buffer && again[0].byteOffset === parts[1].byteOffset).toBe(true);
    expect(await reader.readSlices(info, 10_500, 5)).toEqual([]);
  });

  it('refuses to read a directory', async () => {
    const { info, reader } = await setup(100);
    await expect(reader.read({ ...info, isDir: true }, 0, 10)).rejects.toMatchObject({ code: 'IS_DIRECTORY' });
  });
});
