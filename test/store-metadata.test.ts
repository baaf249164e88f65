import { describe, expect, it } from 'vitest';
import { HoardError } from '../lib/errors.js';
import { MetadataCache } from '../worker/store/metadata-cache.js';
import { MemoryUfs, pattern } from './store-memory-ufs.js';

/** A clock the test moves by hand: TTLs are checked without sleeping. */
function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function setup(ttlMs = 1000, negativeTtlMs = 100) {
  const ufs = new MemoryUfs();
  ufs.put('/d/a', pattern(10, 1));
  ufs.put('/d/b', pattern(20, 2));
  const c = clock();
  const cache = new MetadataCache(ufs, { ttlMs, negativeTtlMs, now: c.now });
  return { ufs, cache, clock: c };
}

describe('MetadataCache', () => {
  it('reuses a stat within the TTL and refetches after it', async () => {
    const { ufs, cache, clock } = setup();
    expect((await cache.stat('/d/a')).size).toBe(10);
    clock.advance(999);
    expect((await cache.stat('/d/a')).size).toBe(10);
    expect(ufs.calls.stat).toBe(1);
    ufs.put('/d/a', pattern(15, 3));
    clock.advance(2);
    expect((await cache.stat('/d/a')).size).toBe(15);
    expect(ufs.calls.stat).toBe(2);
  });

  it('caches NOT_FOUND for the shorter negative TTL', async () => {
    const { ufs, cache, clock } = setup();
    await expect(cache.stat('/d/missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(cache.stat('/d/missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(ufs.calls.stat).toBe(1);
    ufs.put('/d/missing', pattern(5, 4));
    clock.advance(101);
    expect((await cache.stat('/d/missing')).size).toBe(5);
    expect(ufs.calls.stat).toBe(2);
  });

  it('does not cache other errors', async () => {
    const { ufs, cache } = setup();
    ufs.failWith = new HoardError('UNAVAILABLE', 'store down');
    await expect(cache.stat('/d/a')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    ufs.failWith = undefined;
    expect((await cache.stat('/d/a')).size).toBe(10);
    expect(ufs.calls.stat).toBe(2);
  });

  it('coalesces concurrent identical lookups', async () => {
    const { ufs, cache } = setup();
    ufs.hold();
    const stats = Array.from({ length: 8 }, () => cache.stat('/d/b'));
    const lists = Array.from({ length: 8 }, () => cache.list('/d'));
    await new Promise((r) => setTimeout(r, 10));
    ufs.release();
    for (const s of await Promise.all(stats)) expect(s.size).toBe(20);
    for (const l of await Promise.all(lists)) expect(l.map((e) => e.name).sort()).toEqual(['a', 'b']);
    expect(ufs.calls).toMatchObject({ stat: 1, list: 1 });
  });

  it('caches listings and primes the stat of each child', async () => {
    const { ufs, cache, clock } = setup();
    const first = await cache.list('/d');
    first.pop(); // callers get their own array
    expect(await cache.list('/d')).toHaveLength(2);
    expect((await cache.stat('/d/a')).size).toBe(10);
    expect((await cache.stat('/d/b')).size).toBe(20);
    expect(ufs.calls).toMatchObject({ stat: 0, list: 1 });
    clock.advance(1001);
    await cache.list('/d');
    expect(ufs.calls.list).toBe(2);
  });

  it('invalidate() forgets a path and its parent listing', async () => {
    const { ufs, cache } = setup();
    await cache.list('/d');
    await cache.stat('/d/a');
    ufs.put('/d/c', pattern(3, 5));
    cache.invalidate('/d/c');
    expect((await cache.list('/d')).map((e) => e.name).sort()).toEqual(['a', 'b', 'c']);
    expect(ufs.calls.list).toBe(2);
  });

  it('passes reads straight through', async () => {
    const { ufs, cache } = setup();
    const chunks: Buffer[] = [];
    for await (const c of await cache.read('/d/b', 5, 10)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(pattern(20, 2).subarray(5, 15))).toBe(true);
    expect(ufs.calls.read).toBe(1);
  });

  it('refetches after the TTL with a real clock', async () => {
    const ufs = new MemoryUfs();
    ufs.put('/x', pattern(4, 1));
    const cache = new MetadataCache(ufs, { ttlMs: 30, negativeTtlMs: 10 });
    await cache.stat('/x');
    await cache.stat('/x');
    expect(ufs.calls.stat).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    await cache.stat('/x');
    expect(ufs.calls.stat).toBe(2);
    await cache.close();
  });
});
