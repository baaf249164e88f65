import { describe, expect, it } from 'vitest';
import { HashRing } from '../worker/client/ring.js';
import { benchRing } from './bench/ring.js';

describe('HashRing (rendezvous)', () => {
  it('balances 100k keys over 10 workers within 10% and moves only ~1/11 of keys for an 11th', () => {
    const r = benchRing(10, 100_000);
    expect(r.maxOverMean).toBeLessThanOrEqual(1.1);
    expect(r.movedFraction).toBeLessThanOrEqual(1.1 * (1 / 11));
    // Every moved key went to the new worker, so movement cannot be far below ideal either.
    expect(r.movedFraction).toBeGreaterThan(0.9 * (1 / 11));
  });

  it('returns n distinct owners in a stable preference order', () => {
    const ring = new HashRing(['w0', 'w1', 'w2', 'w3', 'w4']);
    for (let i = 0; i < 200; i++) {
      const key = `/data/f${i}#0`;
      const three = ring.owners(key, 3);
      expect(new Set(three).size).toBe(3);
      expect(ring.owners(key, 1)).toEqual(three.slice(0, 1));
      expect(ring.owners(key, 2)).toEqual(three.slice(0, 2));
      expect(ring.owners(key, 99)).toHaveLength(5);
    }
    expect(new HashRing().owners('/x', 2)).toEqual([]);
  });

  it('places by id only: insertion order does not matter, and removing a worker moves only its keys to its runner-up', () => {
    const ids = ['imagenet-worker-0', 'imagenet-worker-1', 'imagenet-worker-2', 'imagenet-worker-3'];
    const a = new HashRing(ids);
    const b = new HashRing([...ids].reverse());
    const keys = Array.from({ length: 2000 }, (_, i) => `/train/${i}.jpg`);
    for (const k of keys) expect(b.owners(k, 2)).toEqual(a.owners(k, 2));
    const before = new Map(keys.map((k) => [k, a.owners(k, 2)]));
    a.remove('imagenet-worker-2');
    for (const k of keys) {
      const [first, second] = before.get(k)!;
      expect(a.owners(k, 1)[0]).toBe(first === 'imagenet-worker-2' ? second : first);
    }
  });

  it('spreads a removed worker\'s keys over all the others, not onto one neighbour', () => {
    const ids = Array.from({ length: 6 }, (_, i) => `w${i}`);
    const ring = new HashRing(ids);
    const keys = Array.from({ length: 12_000 }, (_, i) => `/k/${i}`);
    const orphaned = keys.filter((k) => ring.owners(k, 1)[0] === 'w0');
    ring.remove('w0');
    const heirs = new Map<string, number>();
    for (const k of orphaned) heirs.set(ring.owners(k, 1)[0]!, (heirs.get(ring.owners(k, 1)[0]!) ?? 0) + 1);
    expect(heirs.size).toBe(5);
    for (const n of heirs.values()) expect(n).toBeGreaterThan(orphaned.length / 5 / 2);
  });

  it('rejects an empty id', () => {
    expect(() => new HashRing(['']).size).toThrow(/non-empty/);
  });
});
