import type { EvictionPolicy } from './eviction.js';
import { evictedEnough, fitsTier, mustEvict, type TierEvents, type Watermarks } from './tier-events.js';

export interface EvictedPage {
  key: string;
  data: Buffer;
}

/** Pages as Buffers in a Map. Everything is synchronous so MEM hits never wait on I/O. */
export class MemTier implements Watermarks {
  readonly medium = 'MEM' as const;
  used = 0;
  evictions = 0;
  private readonly pages = new Map<string, Buffer>();

  constructor(
    readonly label: string,
    readonly quota: number,
    readonly high: number,
    readonly low: number,
    private readonly policy: EvictionPolicy,
    private readonly events: TierEvents,
  ) {}

  get pageCount(): number {
    return this.pages.size;
  }

  has(key: string): boolean {
    return this.pages.has(key);
  }

  /** Counts `uses` reads the tier did not serve itself (short-circuit reads); false if not here. */
  touch(key: string, uses = 1): boolean {
    if (!this.pages.has(key)) return false;
    this.policy.touch(key, uses);
    return true;
  }

  /** The page without counting a use (for copying it elsewhere, not for a reader). */
  peek(key: string): Buffer | undefined {
    return this.pages.get(key);
  }

  get(key: string): Buffer | undefined {
    const data = this.pages.get(key);
    if (data !== undefined) this.policy.touch(key);
    return data;
  }

  /**
   * Stores a page and returns the pages evicted to make room (already removed, for demotion).
   * Returns undefined when the page can never fit this tier.
   */
  insert(key: string, data: Buffer): EvictedPage[] | undefined {
    if (this.pages.has(key)) {
      this.policy.touch(key);
      return [];
    }
    if (!fitsTier(this, data.length)) return undefined;
    const evicted: EvictedPage[] = [];
    if (mustEvict(this, this.used, data.length)) {
      while (this.pages.size > 0 && !evictedEnough(this, this.used, data.length)) {
        const victim = this.policy.peek()!;
        evicted.push({ key: victim, data: this.pages.get(victim)! });
        this.remove(victim);
        this.evictions++;
        this.events.evicted(this.label);
      }
    }
    this.pages.set(key, data);
    this.policy.add(key);
    this.used += data.length;
    this.events.added(key, data.length);
    return evicted;
  }

  delete(key: string): void {
    if (this.pages.has(key)) this.remove(key);
  }

  private remove(key: string): void {
    const data = this.pages.get(key)!;
    this.pages.delete(key);
    this.policy.remove(key);
    this.used -= data.length;
    this.events.removed(key, data.length);
  }
}
