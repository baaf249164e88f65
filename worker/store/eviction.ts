import type { EvictionPolicyName } from './types.js';

/** Orders a tier's pages for eviction. All operations are O(1) amortised. */
export interface EvictionPolicy {
  add(key: string): void;
  /** `uses` reads of the page (default 1; more when a client reports repeated short-circuit reads at once). */
  touch(key: string, uses?: number): void;
  remove(key: string): void;
  /** The page to evict next, without removing it. */
  peek(): string | undefined;
}

/** Least recently used: a Map's insertion order is the recency order. */
export class LruPolicy implements EvictionPolicy {
  private readonly order = new Map<string, true>();

  add(key: string): void {
    this.order.delete(key);
    this.order.set(key, true);
  }

  touch(key: string): void {
    if (this.order.delete(key)) this.order.set(key, true);
  }

  remove(key: string): void {
    this.order.delete(key);
  }

  peek(): string | undefined {
    for (const key of this.order.keys()) return key;
    return undefined;
  }
}

/**
 * Least frequently used, ties broken by least recent use: one insertion-ordered set per
 * access count. minFreq may go stale after remove(); peek() then recomputes it.
 */
export class LfuPolicy implements EvictionPolicy {
  private readonly freq = new Map<string, number>();
  private readonly buckets = new Map<number, Set<string>>();
  private minFreq = 0;

  add(key: string): void {
    this.remove(key);
    this.freq.set(key, 1);
    this.bucket(1).add(key);
    this.minFreq = 1;
  }

  touch(key: string, uses = 1): void {
    const f = this.freq.get(key);
    if (f === undefined || !(uses >= 1)) return;
    const from = this.buckets.get(f)!;
    from.delete(key);
    // With uses > 1, buckets between f and f + uses may hold the new minimum: leaving minFreq on
    // the emptied bucket makes peek() find it.
    if (from.size === 0) {
      this.buckets.delete(f);
      if (this.minFreq === f && uses === 1) this.minFreq = f + 1;
    }
    const to = Math.min(Number.MAX_SAFE_INTEGER, f + uses);
    this.freq.set(key, to);
    this.bucket(to).add(key);
  }

  remove(key: string): void {
    const f = this.freq.get(key);
    if (f === undefined) return;
    this.freq.delete(key);
    const b = this.buckets.get(f)!;
    b.delete(key);
    if (b.size === 0) this.buckets.delete(f);
  }

  peek(): string | undefined {
    if (this.freq.size === 0) return undefined;
    let b = this.buckets.get(this.minFreq);
    if (!b) {
      let min = Infinity;
      for (const f of this.buckets.keys()) if (f < min) min = f;
      this.minFreq = min;
      b = this.buckets.get(min)!;
    }
    for (const key of b) return key;
    return undefined;
  }

  private bucket(f: number): Set<string> {
    let b = this.buckets.get(f);
    if (!b) {
      b = new Set();
      this.buckets.set(f, b);
    }
    return b;
  }
}

export function createPolicy(name: EvictionPolicyName): EvictionPolicy {
  return name === 'LFU' ? new LfuPolicy() : new LruPolicy();
}
