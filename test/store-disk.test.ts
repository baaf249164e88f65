import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { CachedReader } from '../worker/store/cached-reader.js';
import { PageStore } from '../worker/store/page-store.js';
import type { TierConfig } from '../worker/store/types.js';
import { MemoryUfs, pattern } from './store-memory-ufs.js';

const PAGE = 4096;
const dirs: string[] = [];
const readers: CachedReader[] = [];
afterEach(async () => {
  await Promise.all(readers.splice(0).map((r) => r.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'hoard-store-disk-'));
  dirs.push(d);
  return d;
}

async function openReader(ufs: MemoryUfs, tiers: TierConfig[], registry = new Registry()) {
  const store = await PageStore.open({ pageSize: PAGE, tiers, registry });
  const reader = new CachedReader(store, ufs, { pageSize: PAGE, registry });
  readers.push(reader);
  return { store, reader, registry };
}

async function pageFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of await readdir(join(dir, 'pages'))) {
    for (const f of await readdir(join(dir, 'pages', sub))) out.push(join(dir, 'pages', sub, f));
  }
  return out;
}

async function flipByte(file: string, at: number): Promise<void> {
  const buf = await readFile(file);
  buf[at < 0 ? buf.length + at : at] ^= 0x40;
  await writeFile(file, buf);
}

describe('disk tier integrity', () => {
  it('never returns a page whose data was bit-flipped: drops it, counts it and refetches', async () => {
    const dir = await tempDir();
    const ufs = new MemoryUfs();
    const data = pattern(PAGE * 3, 11);
    const info = ufs.put('/f', data);
    const { store, reader, registry } = await openReader(ufs, [{ medium: 'SSD', quota: 1 << 20, path: dir }]);
    expect((await reader.read(info, 0, data.length)).equals(data)).toBe(true);
    await store.flush();
    const files = await pageFiles(dir);
    expect(files).toHaveLength(3);
    for (const f of files) await flipByte(f, -100); // inside the data of every page
    ufs.resetCounts();

    const again = await reader.read(info, 0, data.length);
    expect(again.equals(data)).toBe(true);
    expect(ufs.calls.read).toBe(1); // the three damaged pages form one run: one refetch
    expect(store.stats().checksumFailures).toBe(3);
    expect(await registry.metrics()).toContain('hoard_page_checksum_failures_total 3');

    // The refetched pages replaced the damaged files and are served from disk again.
    await store.flush();
    ufs.resetCounts();
    expect((await reader.read(info, 0, data.length)).equals(data)).toBe(true);
    expect(ufs.calls.read).toBe(0);
  });

  it('drops a page whose header (key) was damaged', async () => {
    const dir = await tempDir();
    const ufs = new MemoryUfs();
    const data = pattern(PAGE, 12);
    const info = ufs.put('/g', data);
    const { store, reader } = await openReader(ufs, [{ medium: 'SSD', quota: 1 << 20, path: dir }]);
    await reader.read(info, 0, PAGE);
    await store.flush();
    const [file] = await pageFiles(dir);
    await flipByte(file, 30); // inside the key
    ufs.resetCounts();
    expect((await reader.read(info, 0, PAGE)).equals(data)).toBe(true);
    expect(ufs.calls.read).toBe(1);
    expect(store.stats().checksumFailures).toBe(1);
  });

  it('treats a page file deleted behind its back as a miss', async () => {
    const dir = await tempDir();
    const ufs = new MemoryUfs();
    const data = pattern(PAGE * 2, 13);
    const info = ufs.put('/h', data);
    const { store, reader } = await openReader(ufs, [{ medium: 'SSD', quota: 1 << 20, path: dir }]);
    await reader.read(info, 0, data.length);
    await store.flush();
    for (const f of await pageFiles(dir)) await rm(f);
    ufs.resetCounts();
    expect((await reader.read(info, 0, data.length)).equals(data)).toBe(true);
    expect(ufs.calls.read).toBe(1);
  });
});

describe('restart', () => {
  it('finds its disk pages again after close and reopen, with zero UFS reads', async () => {
    const dir = await tempDir();
    const ufs = new MemoryUfs();
    const a = pattern(PAGE * 5 + 123, 21);
    const b = pattern(PAGE * 2, 22);
    const infoA = ufs.put('/data/a.bin', a);
    const infoB = ufs.put('/data/b.bin', b);
    const first = await openReader(ufs, [{ medium: 'SSD', quota: 1 << 20, path: dir }]);
    await first.reader.load(infoA, 0, a.length);
    await first.reader.load(infoB, 0, b.length);
    const before = first.store.stats();
    await first.reader.close();
    readers.length = 0;

    // Leftovers a crash could leave: an unfinished tmp file and a truncated page.
    const sub = join(dir, 'pages', 'ab');
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, 'deadbeef.1.1.tmp'), 'partial');
    const victim = (await pageFiles(dir)).find((f) => !f.endsWith('.tmp'))!;
    const whole = await readFile(victim);
    await writeFile(victim, whole.subarray(0, whole.length - 10));

    const ufs2 = new MemoryUfs();
    ufs2.put('/data/a.bin', a, infoA.version);
    ufs2.put('/data/b.bin', b, infoB.version);
    const second = await openReader(ufs2, [{ medium: 'SSD', quota: 1 << 20, path: dir }]);
    const after = second.store.stats();
    expect(after.pages).toBe(before.pages - 1); // the truncated page was removed at scan
    expect(after.filesCached).toBe(2);
    expect(after.checksumFailures).toBe(1);
    expect((await pageFiles(dir)).some((f) => f.endsWith('.tmp'))).toBe(false);

    expect((await second.reader.read(infoA, 0, a.length)).equals(a)).toBe(true);
    expect((await second.reader.read(infoB, 0, b.length)).equals(b)).toBe(true);
    expect(ufs2.calls.read).toBe(1); // only the truncated page is fetched again
    await second.store.flush();
    ufs2.resetCounts();
    expect((await second.reader.read(infoA, 0, a.length)).equals(a)).toBe(true);
    expect(ufs2.calls.read).toBe(0);
    expect(second.reader.stats().hits).toBeGreaterThan(0);
  });

  it('trims a tier whose quota shrank since the last run', async () => {
    const dir = await tempDir();
    const ufs = new MemoryUfs();
    const data = pattern(PAGE * 20, 31);
    const info = ufs.put('/big', data);
    const first = await openReader(ufs, [{ medium: 'SSD', quota: 1 << 20, path: dir }]);
    await first.reader.load(info, 0, data.length);
    await first.reader.close();
    readers.length = 0;
    const quota = PAGE * 10;
    const second = await openReader(ufs, [{ medium: 'SSD', quota, path: dir }]);
    await second.store.flush();
    const s = second.store.stats();
    expect(s.tiers[0].usedBytes).toBeLessThanOrEqual(quota * 0.8);
    expect(await pageFiles(dir)).toHaveLength(s.tiers[0].pages);
  });

  it('keeps every page across a restart (demoted from MEM, or written behind while in MEM); MEM itself starts empty', async () => {
    const dir = await tempDir();
    const ufs = new MemoryUfs();
    const data = pattern(PAGE * 10, 41);
    const info = ufs.put('/m', data);
    const tiers: TierConfig[] = [
      { medium: 'MEM', quota: PAGE * 4 },
      { medium: 'SSD', quota: 1 << 20, path: dir },
    ];
    const first = await openReader(ufs, tiers);
    await first.reader.load(info, 0, data.length);
    const onDisk = (await first.store.flush(), first.store.stats().tiers[1].pages);
    expect(onDisk).toBe(10);
    expect(first.store.stats().writeBehindPending).toBe(0);
    await first.reader.close();
    readers.length = 0;
    const second = await openReader(ufs, tiers);
    expect(second.store.stats().tiers.map((t) => t.pages)).toEqual([0, onDisk]);
    ufs.resetCounts();
    expect((await second.reader.read(info, 0, data.length)).equals(data)).toBe(true);
    expect(ufs.calls.read).toBe(0); // the pages that were only in MEM were written behind
  });
});

describe('concurrency stress', () => {
  it('serves correct bytes under many concurrent reads with constant eviction and demotion', async () => {
    const dir = await tempDir();
    const ufs = new MemoryUfs();
    ufs.chunkSize = 1500;
    const files = Array.from({ length: 4 }, (_, i) => {
      const data = pattern(PAGE * 12 + i * 777, 50 + i);
      return { data, info: ufs.put(`/s/${i}`, data) };
    });
    const diskQuota = PAGE * 20;
    const { store, reader } = await openReader(ufs, [
      { medium: 'MEM', quota: PAGE * 6 },
      { medium: 'SSD', quota: diskQuota, path: dir },
    ]);
    let seed = 9;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    for (let batch = 0; batch < 15; batch++) {
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          const f = files[rnd(files.length)];
          const offset = rnd(f.data.length);
          const length = 1 + rnd(PAGE * 3);
          const got = await reader.read(f.info, offset, length);
          expect(got.equals(f.data.subarray(offset, Math.min(f.data.length, offset + length)))).toBe(true);
        }),
      );
      const s = store.stats();
      expect(s.tiers[0].usedBytes).toBeLessThanOrEqual(PAGE * 6);
      expect(s.tiers[1].usedBytes).toBeLessThanOrEqual(diskQuota);
    }
    await store.flush();
    expect(await pageFiles(dir)).toHaveLength(store.stats().tiers[1].pages);
    expect(store.stats().checksumFailures).toBe(0);
  });
});
