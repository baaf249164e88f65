import type { Registry } from 'prom-client';
import type { Logger } from '../../lib/log.js';

export type Medium = 'MEM' | 'SSD' | 'HDD';
export type EvictionPolicyName = 'LRU' | 'LFU';

/**
 * One cache level. Disk tiers (SSD/HDD) need a path; a MEM tier with a path keeps its pages as
 * files on a RAM file system (tmpfs), where clients on the same host can read them directly.
 * high/low are fractions of quota.
 */
export interface TierConfig {
  medium: Medium;
  quota: number;
  path?: string;
  /** Start evicting when usage would pass high * quota (default 0.95). */
  high?: number;
  /** Evict down to low * quota (default 0.8). */
  low?: number;
}

export interface PageStoreOptions {
  pageSize: number;
  tiers: TierConfig[];
  eviction?: EvictionPolicyName;
  registry?: Registry;
  /** Copy pages found in a lower tier into MEM on a hit (default true). */
  promote?: boolean;
  /**
   * Copy each page cached in a heap MEM tier to the disk tier below it in the background (default
   * true), so a restarted worker still holds what its memory held.
   */
  writeBehind?: boolean;
  logger?: Logger;
}

export interface TierStats {
  medium: Medium;
  /** Metric label: the medium, suffixed with its position when two tiers share a medium. */
  label: string;
  path?: string;
  capacityBytes: number;
  usedBytes: number;
  pages: number;
  evictions: number;
}

export interface PageStoreStats {
  capacityBytes: number;
  /** Distinct cached page bytes (a page held by two tiers counts once). */
  usedBytes: number;
  /** Distinct cached pages. */
  pages: number;
  /** Distinct (path, version) pairs with at least one cached page. */
  filesCached: number;
  evictions: number;
  checksumFailures: number;
  /** Pages in memory waiting for (or being given) their write-behind copy on the disk tier. */
  writeBehindPending: number;
  tiers: TierStats[];
}

export interface ReaderStats extends PageStoreStats {
  hits: number;
  misses: number;
  ufsBytesRead: number;
}
