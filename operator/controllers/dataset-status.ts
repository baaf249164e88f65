import { formatSize } from '../../lib/units.js';
import type { DatasetStatus } from '../api/types.js';
import type { DatasetStats } from '../stats/source.js';

const pct = (n: number, d: number) => `${d > 0 ? Math.min(100, (n / d) * 100).toFixed(1) : '0.0'}%`;

/**
 * Folds worker stats into the Dataset status (printer columns read the human strings). Cached
 * bytes are what each worker owns on the clients' ring, so a page is counted once, on the worker
 * readers get it from; copies elsewhere are stale bytes. A worker that did not weigh its pages by
 * the ring (an older worker, or no ring was known) has all of its bytes counted as cached; their
 * ids are returned so the status can say that its figure includes stale copies.
 */
export function applyStats(status: DatasetStatus, stats: DatasetStats, at: Date): { unweighed: string[] } {
  if (stats.ufs) {
    status.ufsTotalBytes = stats.ufs.totalBytes;
    status.ufsTotal = formatSize(stats.ufs.totalBytes);
    status.fileCount = stats.ufs.fileCount;
  }
  const unweighed: string[] = [];
  if (stats.workers.length === 0) return { unweighed };
  let capacity = 0;
  let cached = 0;
  let stale = 0;
  let hits = 0;
  let misses = 0;
  for (const w of stats.workers) {
    const used = Number(w.usedBytes) || 0;
    capacity += Number(w.capacityBytes) || 0;
    hits += Number(w.hits) || 0;
    misses += Number(w.misses) || 0;
    if (w.ownedBytes === undefined) {
      unweighed.push(w.workerId);
      cached += used;
      continue;
    }
    const owned = Math.min(used, Number(w.ownedBytes) || 0);
    cached += owned;
    stale += used - owned;
  }
  status.cacheStates = {
    cacheCapacity: formatSize(capacity),
    cacheCapacityBytes: capacity,
    cached: formatSize(cached),
    cachedBytes: cached,
    cachedPercentage: pct(cached, status.ufsTotalBytes ?? 0),
    stale: formatSize(stale),
    staleBytes: stale,
    hitRatio: pct(hits, hits + misses),
  };
  status.statsTime = at.toISOString().replace(/\.\d+Z$/, 'Z');
  return { unweighed: unweighed.sort() };
}

/** The StatsAvailable message: how many workers answered, and what the figures cannot vouch for. */
export function statsMessage(stats: DatasetStats, unweighed: string[]): string {
  const truncated = stats.ufs?.truncated ? ' (UFS totals are partial: the listing was cut off)' : '';
  const why = stats.ring ? 'workers of an older version do not report what they own on the ring' : 'the ring is unknown (no ready worker pod could be listed)';
  const stale = unweighed.length === 0 ? '' : `; cached bytes include stale copies on ${unweighed.join(', ')}: ${why}`;
  return `stats from ${stats.workers.length} worker(s)${truncated}${stale}`;
}
