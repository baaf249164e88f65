/** How a tier tells the store about pages coming and going (for totals and metrics). */
export interface TierEvents {
  added(key: string, dataLength: number): void;
  removed(key: string, dataLength: number): void;
  evicted(tierLabel: string): void;
  corrupt(tierLabel: string, key: string, reason: string): void;
}

/** Watermark arithmetic shared by all tiers. */
export interface Watermarks {
  quota: number;
  high: number;
  low: number;
}

/** Whether a page of `size` bytes can live in the tier at all. */
export function fitsTier(w: Watermarks, size: number): boolean {
  return size <= w.quota * w.high;
}

/** Adding `size` bytes at usage `used` passes the high watermark: evict first. */
export function mustEvict(w: Watermarks, used: number, size: number): boolean {
  return used + size > w.quota * w.high;
}

/** Eviction continues until the new page fits under the low watermark (or the tier is empty). */
export function evictedEnough(w: Watermarks, used: number, size: number): boolean {
  return used + size <= w.quota * w.low;
}
