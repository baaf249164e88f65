import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { LfuPolicy, LruPolicy } from '../worker/store/eviction.js';
import { PageStore } from '../worker/store/page-store.js';
import type { PageStoreOptions } from '../worker/store/types.js';
import { pattern } from './store-memory-ufs.js';

const dirs: string[] = [];
const stores: PageStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'hoard-store-evict-'));
  dirs.push(d);
  return d;
}

async function open(opts: PageStoreOptions): Promise<PageStore> {
  const s = await PageStore.open(opts);
  stores.push(s);
  return s;
}

/** Bytes of page files actually on disk under a tier directory. */
async function diskBytes(dir: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  for (const sub of await readdir(join(dir, 'pages'))) {
    for (const f of await readdir(join(dir, 'pages', sub))) {
      bytes += (await stat(join(dir, 'pages', sub, f))).size;
      files++;
    }
  }
  return { bytes, files };
}

const page = (i: number, size = 100) => pattern(size, i + 1);

describe('eviction policies', () => {
  it('LRU evicts the least recently used first', () => {
    const p = new LruPolicy();
    for (const k of ['a', 'b', 'c']) p.add(k);
    p.touch('a');
    expect(p.peek()).toBe('b');
    p.remove('b');
    expect(p.peek()).toBe('c');
    p.touch('c');
    expect(p.peek()).toBe('a');
  });

  it('LFU evicts the least frequently used first, oldest among equals', () => {
    const p = new LfuPolicy();
    for (const k of ['a', 'b', 'c']) p.add(k);
    p.touch('a');
    p.touch('a');
    p.touch('b');
    expect(p.peek()).toBe('c');
    p.remove('c');
    expect(p.peek()).toBe('b');
    p.touch('b'); // b and a both at 3 uses; a got there first
    expect(p.peek()).toBe('a');
    p.add('d');
    expect(p.peek()).toBe('d');
    p.remove('d');
    expect(p.peek()).toBe('a'); // minimum recomputed after the lowest bucket emptied
  });

  it('LFU counts several uses reported at once (Touch with read counts) as that many uses', () => {
    const p = new LfuPolicy();
    p.add('a');
    p.add('b');
    p.touch('b', 3); // b: 4 uses
    p.touch('a', 10); // a: 11 uses; the lowest bucket emptied, and b (4) is now the least used, not a
    expect(p.peek()).toBe('b');
    p.add('c');
    expect(p.peek()).toBe('c');
    p.remove('c');
    p.touch('b', 6); // b: 10 uses, still below a
    expect(p.peek()).toBe('b');
    p.touch('b', 2); // b: 12 uses
    expect(p.peek()).toBe('a');
  });
});

describe('PageStore eviction', () => {
  async function fillAndEvict(eviction: 'LRU' | 'LFU') {
    // 1000 bytes, watermarks 0.95/0.8: nine 100-byte pages fit, the tenth evicts down to 800.
    const store = await open({ pageSize: 100, tiers: [{ medium: 'MEM', quota: 1000 }], eviction });
    for (let i = 0; i < 9; i++) await store.put(`k${i}`, page(i));
    // k0 is used three times, k1 never again, the rest once.
    for (let n = 0; n < 3; n++) store.peek('k0');
    for (let i = 2; i < 9; i++) store.peek(`k${i}`);
    await store.put('k9', page(9));
    const kept = Array.from({ length: 10 }, (_, i) => `k${i}`).filter((k) => store.peek(k) !== undefined);
    return { store, kept };
  }

  it('LRU evicts the least recently used pages down to the low watermark', async () => {
    const { store, kept } = await fillAndEvict('LRU');
    // Recency order before k9: k1 (never reused), k0, k2..k8: the first two go.
    expect(kept).toEqual(['k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9']);
    expect(store.stats().tiers[0]).toMatchObject({ usedBytes: 800, pages: 8, evictions: 2 });
  });

  it('LFU keeps the most used page even if it was not used recently', async () => {
    const { kept } = await fillAndEvict('LFU');
    // k1 has 1 use, k2..k8 have 2, k0 has 4: k1 and then the oldest 2-use page (k2) go.
    expect(kept).toEqual(['k0', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9']);
  });

  it('honours custom watermarks', async () => {
    const store = await open({ pageSize: 100, tiers: [{ medium: 'MEM', quota: 1000, high: 0.5, low: 0.2 }] });
    for (let i = 0; i < 5; i++) await store.put(`k${i}`, page(i));
    expect(store.stats().tiers[0].usedBytes).toBe(500);
    await store.put('k5', page(5)); // would pass 500: evict to <= 200 including the new page
    expect(store.stats().tiers[0]).toMatchObject({ usedBytes: 200, pages: 2 });
    expect(store.peek('k4')).toBeDefined();
    expect(store.peek('k5')).toBeDefined();
  });

  it('counts evictions per tier in the metrics', async () => {
    const registry = new Registry();
    const store = await open({ pageSize: 100, tiers: [{ medium: 'MEM', quota: 1000 }], registry });
    for (let i = 0; i < 10; i++) await store.put(`k${i}`, page(i));
    const text = await registry.metrics();
    expect(text).toContain('hoard_cache_evictions_total{tier="MEM"} 2');
    expect(text).toContain('hoard_cache_bytes{tier="MEM"} 800');
    expect(text).toContain('hoard_cache_pages{tier="MEM"} 8');
  });

  it('demotes pages evicted from MEM to disk and serves (and promotes) them from there', async () => {
    const dir = await tempDir();
    const store = await open({
      pageSize: 100,
      writeBehind: false, // demotion alone: write-behind would have every page on disk already
      tiers: [
        { medium: 'SSD', quota: 100_000, path: dir },
        { medium: 'MEM', quota: 1000 }, // listed second on purpose: MEM is always the top tier
      ],
    });
    for (let i = 0; i < 20; i++) await store.put(`k${i}`, page(i));
    await store.flush();
    const s = store.stats();
    expect(s.tiers.map((t) => t.medium)).toEqual(['MEM', 'SSD']);
    expect(s.tiers[0].pages).toBe(8);
    expect(s.pages).toBe(20); // nothing lost: every MEM victim went to disk
    expect(s.tiers[1].pages).toBe(12);
    expect((await diskBytes(dir)).files).toBe(12);
    expect(store.peek('k0')).toBeUndefined();
    const fromDisk = await store.get('k0');
    expect(fromDisk?.equals(page(0))).toBe(true);
    await store.flush();
    // Promoted into MEM (a copy: the disk copy stays, so evicting it again costs no write).
    expect(store.peek('k0')?.equals(page(0))).toBe(true);
    expect(store.stats().tiers[1].pages).toBe(12);
  });

  it('deletes from the last tier and never exceeds any quota, also under concurrent puts', async () => {
    const dir = await tempDir();
    const memQuota = 5000;
    const diskQuota = 20_000;
    const store = await open({
      pageSize: 1000,
      tiers: [
        { medium: 'MEM', quota: memQuota },
        { medium: 'SSD', quota: diskQuota, path: dir },
      ],
    });
    for (let round = 0; round < 10; round++) {
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(`r${round}-${i}`, page(round * 20 + i, 300 + ((i * 37) % 700)))));
      await store.writtenBehind(); // so no temp file appears or goes while the directory is walked
      const s = store.stats();
      expect(s.tiers[0].usedBytes).toBeLessThanOrEqual(memQuota);
      expect(s.tiers[1].usedBytes).toBeLessThanOrEqual(diskQuota);
      expect((await diskBytes(dir)).bytes).toBeLessThanOrEqual(diskQuota);
    }
    await store.flush();
    const s = store.stats();
    const onDisk = await diskBytes(dir);
    expect(onDisk.files).toBe(s.tiers[1].pages);
    expect(onDisk.bytes).toBe(s.tiers[1].usedBytes);
    expect(s.tiers[1].evictions).toBeGreaterThan(0);
    // Whatever is still cached is intact.
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 20; i++) {
        const got = await store.get(`r${round}-${i}`);
        if (got) expect(got.equals(page(round * 20 + i, 300 + ((i * 37) % 700)))).toBe(true);
      }
    }
  });

  it('sends a page too big for MEM straight to disk', async () => {
    const dir = await tempDir();
    const store = await open({
      pageSize: 4000,
      tiers: [
        { medium: 'MEM', quota: 1000 },
        { medium: 'SSD', quota: 100_000, path: dir },
      ],
    });
    await store.put('big', page(1, 4000));
    await store.flush();
    expect(store.stats().tiers.map((t) => t.pages)).toEqual([0, 1]);
    expect((await store.get('big'))?.equals(page(1, 4000))).toBe(true);
  });

  it('rejects bad configuration with the field and the fix', async () => {
    await expect(PageStore.open({ pageSize: 100, tiers: [{ medium: 'SSD', quota: 1000 }] })).rejects.toThrow(/tiers\[0\]\.path: a SSD tier needs a directory/);
    await expect(PageStore.open({ pageSize: 100, tiers: [{ medium: 'MEM', quota: 1000, high: 0.5, low: 0.6 }] })).rejects.toThrow(/tiers\[0\]\.low/);
    await expect(
      PageStore.open({ pageSize: 100, tiers: [{ medium: 'MEM', quota: 1000 }, { medium: 'MEM', quota: 1000 }] }),
    ).rejects.toThrow(/only one MEM tier/);
    await expect(PageStore.open({ pageSize: 0, tiers: [{ medium: 'MEM', quota: 1000 }] })).rejects.toThrow(/pageSize/);
    await expect(PageStore.open({ pageSize: 100, tiers: [] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
