import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { HoardError } from '../lib/errors.js';
import { CachedReader } from '../worker/store/cached-reader.js';
import { MetadataCache } from '../worker/store/metadata-cache.js';
import { FileUfs } from '../worker/ufs/file.js';
import { fileId, pageKey } from '../worker/store/page-key.js';
import { PageStore } from '../worker/store/page-store.js';
import type { UfsEntry } from '../worker/ufs/types.js';
import { MemoryUfs, pattern } from './store-memory-ufs.js';

const PAGE = 1024;
const readers: CachedReader[] = [];
afterEach(async () => {
  await Promise.all(readers.splice(0).map((r) => r.close()));
});

async function setup(opts: { size?: number; maxRunBytes?: number; readAheadBytes?: number; registry?: Registry } = {}) {
  const ufs = new MemoryUfs();
  ufs.chunkSize = 700;
  const data = pattern(opts.size ?? PAGE * 8, 5);
  const info = ufs.put('/r/file', data);
  const registry = opts.registry ?? new Registry();
  const store = await PageStore.open({ pageSize: PAGE, tiers: [{ medium: 'MEM', quota: 1 << 20 }], registry });
  const reader = new CachedReader(store, ufs, { pageSize: PAGE, registry, maxRunBytes: opts.maxRunBytes, readAheadBytes: opts.readAheadBytes });
  readers.push(reader);
  return { ufs, data, info, store, reader, registry };
}

const keyOf = (info: UfsEntry, index: number) => pageKey(fileId(info.path, info.version), index);

describe('CachedReader read-through', () => {
  it('serves a second read from the cache', async () => {
    const { ufs, data, info, reader } = await setup();
    await reader.read(info, 100, 3000);
    ufs.resetCounts();
    expect((await reader.read(info, 200, 2000)).equals(data.subarray(200, 2200))).toBe(true);
    expect(ufs.calls.read).toBe(0);
    expect(reader.stats()).toMatchObject({ hits: 3, misses: 4, ufsBytesRead: 4 * PAGE }); // pages 0..3, then 0..2
  });

  it('coalesces concurrent misses on one page into one UFS read', async () => {
    const { ufs, data, info, reader } = await setup();
    ufs.hold();
    const reads = Array.from({ length: 10 }, (_, i) => reader.read(info, PAGE * 2 + i * 10, 50));
    await new Promise((r) => setTimeout(r, 20));
    ufs.release();
    const got = await Promise.all(reads);
    got.forEach((b, i) => expect(b.equals(data.subarray(PAGE * 2 + i * 10, PAGE * 2 + i * 10 + 50))).toBe(true));
    expect(ufs.reads).toEqual([{ path: '/r/file', offset: PAGE * 2, length: PAGE }]);
  });

  it('overlapping concurrent reads fetch each page once', async () => {
    const { ufs, data, info, reader } = await setup();
    ufs.hold();
    const a = reader.read(info, 0, PAGE * 4); // pages 0..3
    const b = reader.read(info, PAGE * 2, PAGE * 4); // pages 2..5: 2,3 are shared
    await new Promise((r) => setTimeout(r, 20));
    ufs.release();
    expect((await a).equals(data.subarray(0, PAGE * 4))).toBe(true);
    expect((await b).equals(data.subarray(PAGE * 2, PAGE * 6))).toBe(true);
    expect(ufs.reads.map((r) => [r.offset, r.length])).toEqual([
      [0, PAGE * 4],
      [PAGE * 4, PAGE * 2],
    ]);
  });

  it('fetches each missing run with one ranged read', async () => {
    const { ufs, data, info, reader } = await setup();
    await reader.read(info, 0, PAGE * 2); // pages 0,1
    await reader.read(info, PAGE * 4, 1); // page 4
    ufs.resetCounts();
    const got = await reader.read(info, 0, PAGE * 8);
    expect(got.equals(data)).toBe(true);
    expect(ufs.reads.map((r) => [r.offset, r.length])).toEqual([
      [PAGE * 2, PAGE * 2], // pages 2,3
      [PAGE * 5, PAGE * 3], // pages 5,6,7
    ]);
  });

  it('splits a run longer than maxRunBytes', async () => {
    const { ufs, data, info, reader } = await setup({ maxRunBytes: PAGE * 3 });
    expect((await reader.read(info, 0, PAGE * 8)).equals(data)).toBe(true);
    expect(ufs.reads.map((r) => r.length)).toEqual([PAGE * 3, PAGE * 3, PAGE * 2]);
  });

  it('propagates a UFS failure mid-stream and stores no page of the failed run', async () => {
    const { ufs, data, info, store, reader } = await setup();
    ufs.failAfterBytes = PAGE + 500; // one and a half pages arrive, then the connection drops
    const err = await reader.read(info, 0, PAGE * 4).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HoardError);
    expect((err as HoardError).code).toBe('UNAVAILABLE');
    expect((err as HoardError).message).toContain('/r/file');
    await store.flush();
    for (let i = 0; i < 4; i++) expect(store.has(keyOf(info, i))).toBe(false);
    expect(store.stats().pages).toBe(0);
    // Nothing poisoned: the next read fetches again and succeeds.
    ufs.failAfterBytes = undefined;
    ufs.resetCounts();
    expect((await reader.read(info, 0, PAGE * 4)).equals(data.subarray(0, PAGE * 4))).toBe(true);
    expect(ufs.calls.read).toBe(1);
  });

  it('propagates the UFS error code of a failed open to every waiting reader', async () => {
    const { ufs, info, reader, store } = await setup();
    ufs.failWith = new HoardError('PERMISSION_DENIED', 'access denied to /r/file');
    ufs.hold();
    const reads = [reader.read(info, 0, 10), reader.read(info, 5, 10)];
    await new Promise((r) => setTimeout(r, 20));
    ufs.release();
    for (const r of reads) await expect(r).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(ufs.calls.read).toBe(1);
    expect(store.stats().pages).toBe(0);
  });

  it('fails with FAILED_PRECONDITION when the file is shorter than its stat said, storing nothing', async () => {
    const { ufs, info, reader, store } = await setup();
    ufs.put('/r/file', pattern(PAGE * 3, 6), info.version); // shrank under the same stale info
    await expect(reader.read(info, 0, PAGE * 8)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect(store.stats().pages).toBe(0);
  });

  it('never serves old pages for a new file version', async () => {
    const { ufs, data, info, reader } = await setup();
    expect((await reader.read(info, 0, PAGE)).equals(data.subarray(0, PAGE))).toBe(true);
    const changed = pattern(PAGE * 8, 99);
    const info2 = ufs.put('/r/file', changed, 'v2');
    ufs.resetCounts();
    expect((await reader.read(info2, 0, PAGE)).equals(changed.subarray(0, PAGE))).toBe(true);
    expect(ufs.calls.read).toBe(1);
    expect(reader.stats().filesCached).toBe(2); // (path, v1) and (path, v2)
  });

  it('load() caches a range, reports progress and skips what is cached', async () => {
    const { ufs, data, info, reader } = await setup({ size: PAGE * 10 + 300, maxRunBytes: PAGE * 4 });
    await reader.read(info, PAGE * 5, 10); // page 5 already cached
    ufs.resetCounts();
    let progressed = 0;
    const n = await reader.load(info, 0, Number.MAX_SAFE_INTEGER, (b) => (progressed += b));
    expect(n).toBe(data.length);
    expect(progressed).toBe(data.length);
    expect(ufs.reads.map((r) => [r.offset, r.length])).toEqual([
      [0, PAGE * 4],
      [PAGE * 4, PAGE],
      [PAGE * 6, PAGE * 2],
      [PAGE * 8, PAGE * 2 + 300],
    ]);
    ufs.resetCounts();
    expect(await reader.load(info, 0, data.length)).toBe(data.length);
    expect((await reader.read(info, 0, data.length)).equals(data)).toBe(true);
    expect(ufs.calls.read).toBe(0);
    expect(await reader.load(info, data.length, 10)).toBe(0);
  });

  it('load() rejects when the UFS fails', async () => {
    const { ufs, info, reader } = await setup();
    ufs.failAfterBytes = 100;
    await expect(reader.load(info, 0, PAGE * 8)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('exports its metrics, and two stores can share one registry', async () => {
    const registry = new Registry();
    const one = await setup({ registry });
    const two = await setup({ registry });
    await one.reader.read(one.info, 0, PAGE * 2);
    await one.reader.read(one.info, 0, PAGE * 2);
    await two.reader.read(two.info, 0, PAGE);
    const text = await registry.metrics();
    expect(text).toContain('hoard_cache_hits_total 2');
    expect(text).toContain('hoard_cache_misses_total 3');
    expect(text).toContain(`hoard_ufs_read_bytes_total ${3 * PAGE}`);
    expect(text).toContain('hoard_ufs_read_seconds_count 2');
    expect(text).toContain(`hoard_cache_bytes{tier="MEM"} ${3 * PAGE}`);
    expect(text).toContain('hoard_cache_pages{tier="MEM"} 3');
    expect(text).toMatch(/hoard_page_checksum_failures_total 0/);
  });

  it('refuses a reader whose page size differs from its store', async () => {
    const { store, ufs } = await setup();
    expect(() => new CachedReader(store, ufs, { pageSize: PAGE * 2 })).toThrow(/pageSize/);
  });

  it('reports stats in the shape the worker exposes', async () => {
    const { info, reader } = await setup();
    await reader.read(info, 0, PAGE * 3);
    expect(reader.stats()).toMatchObject({
      capacityBytes: 1 << 20,
      usedBytes: PAGE * 3,
      pages: 3,
      hits: 0,
      misses: 3,
      ufsBytesRead: PAGE * 3,
      evictions: 0,
      filesCached: 1,
      tiers: [{ medium: 'MEM', capacityBytes: 1 << 20, usedBytes: PAGE * 3, pages: 3 }],
    });
  });
});

describe('CachedReader over a file replaced after its stat', () => {
  it('refuses the stale version on the read itself, caches nothing under it, and forgets the stale metadata', async () => {
    const root = await mkdtemp(join(tmpdir(), 'hoard-reader-version-'));
    try {
      await writeFile(join(root, 'f.bin'), pattern(PAGE * 3, 1));
      const meta = new MetadataCache(new FileUfs(root), { ttlMs: 60_000 });
      const store = await PageStore.open({ pageSize: PAGE, tiers: [{ medium: 'MEM', quota: 1 << 20 }], registry: new Registry() });
      const reader = new CachedReader(store, meta, { pageSize: PAGE });
      readers.push(reader);
      const old = await meta.stat('/f.bin');
      const fresh = pattern(PAGE * 3, 2);
      await writeFile(join(root, 'f.bin'), fresh);
      await utimes(join(root, 'f.bin'), new Date(), new Date(old.mtimeMs + 10_000));
      const err = await reader.read(old, 0, PAGE).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HoardError);
      expect((err as HoardError).code).toBe('FAILED_PRECONDITION');
      expect(store.has(keyOf(old, 0))).toBe(false);
      const now = await meta.stat('/f.bin');
      expect(now.version).not.toBe(old.version);
      expect((await reader.read(now, 0, PAGE * 3)).equals(fresh)).toBe(true);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('CachedReader read-ahead for sequential readers', () => {
  const ranges = (ufs: MemoryUfs) => ufs.reads.map((r) => [r.offset / PAGE, r.length]);

  it('reads a sequential file with one ranged read per readAheadBytes, byte-exact', async () => {
    const { ufs, data, info, reader } = await setup({ size: PAGE * 10 + 300, readAheadBytes: PAGE * 4 });
    const got: Buffer[] = [];
    for (let at = 0; at < info.size; at += PAGE) got.push(await reader.read(info, at, PAGE));
    expect(Buffer.concat(got).equals(data)).toBe(true);
    // On the 4-page grid: pages 0-3, 4-7, then 8 to EOF.
    expect(ranges(ufs)).toEqual([
      [0, PAGE * 4],
      [4, PAGE * 4],
      [8, PAGE * 2 + 300],
    ]);
  });

  it('does not read ahead for a read that follows nothing cached', async () => {
    const { ufs, data, info, reader } = await setup({ readAheadBytes: PAGE * 4 });
    expect((await reader.read(info, PAGE * 5, 10)).equals(data.subarray(PAGE * 5, PAGE * 5 + 10))).toBe(true);
    expect(ranges(ufs)).toEqual([[5, PAGE]]);
  });

  it('stops a read-ahead run before a page already cached', async () => {
    const { ufs, data, info, reader } = await setup({ readAheadBytes: PAGE * 4 });
    await reader.read(info, PAGE * 6, 1); // page 6, on its own
    await reader.read(info, PAGE * 3, 1); // page 3, on its own
    ufs.resetCounts();
    expect((await reader.read(info, PAGE * 4, 1)).equals(data.subarray(PAGE * 4, PAGE * 4 + 1))).toBe(true);
    expect(ranges(ufs)).toEqual([[4, PAGE * 2]]); // pages 4,5: 6 is cached
  });

  it('answers the pages at the front of a run before the run ends', async () => {
    const { ufs, data, info, reader, store } = await setup({ readAheadBytes: PAGE * 4 });
    ufs.chunkSize = PAGE;
    ufs.stallAfterBytes = PAGE * 2;
    const first = await reader.read(info, 0, PAGE); // returns while pages 2,3 are still to come
    expect(first.equals(data.subarray(0, PAGE))).toBe(true);
    expect(store.has(keyOf(info, 0))).toBe(true);
    let lateDone = false;
    const late = reader.read(info, PAGE * 3, PAGE).then((b) => ((lateDone = true), b));
    await new Promise((r) => setTimeout(r, 20));
    expect(lateDone).toBe(false);
    ufs.release();
    expect((await late).equals(data.subarray(PAGE * 3, PAGE * 4))).toBe(true);
    expect(ranges(ufs)).toEqual([[0, PAGE * 4]]);
  });

  it('a run that fails midway fails the readers of the missing pages and leaves nothing cached', async () => {
    const { ufs, data, info, reader, store } = await setup({ readAheadBytes: PAGE * 4 });
    ufs.chunkSize = PAGE;
    ufs.stallAfterBytes = PAGE * 2;
    expect((await reader.read(info, 0, PAGE)).equals(data.subarray(0, PAGE))).toBe(true);
    const late = reader.read(info, PAGE * 2, PAGE * 2).catch((e: unknown) => e);
    ufs.failWith = new HoardError('UNAVAILABLE', 'the store went away');
    ufs.release();
    const err = await late;
    expect(err).toBeInstanceOf(HoardError);
    expect((err as HoardError).code).toBe('UNAVAILABLE');
    await store.flush();
    expect(store.stats().pages).toBe(0);
    ufs.failWith = undefined;
    ufs.stallAfterBytes = undefined;
    ufs.resetCounts();
    expect((await reader.read(info, PAGE * 2, PAGE * 2)).equals(data.subarray(PAGE * 2, PAGE * 4))).toBe(true);
    expect(ufs.calls.read).toBe(1);
  });
});
