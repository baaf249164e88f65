import { formatSize } from '../../lib/units.js';
import type { DatasetStatus } from '../api/types.js';
import type { DatasetStats } from '../stats/source.js';

const pct = (n: number, d: number) => `${d > 0 ? Math.min(100, (n / d) * 100).toFixed(1) : '0.0'}%`;

/** Folds worker stats into the Dataset status (printer columns read the human strings). */
export function applyStats(status: DatasetStatus, stats: DatasetStats, at: Date): void {
  if (stats.ufs) {
    status.ufsTotalBytes = stats.ufs.totalBytes;
    status.ufsTotal = formatSize(stats.ufs.totalBytes);
    status.fileCount = stats.ufs.fileCount;
  }
  if (stats.workers.length === 0) return;
  const sum = (f: (w: DatasetStats['workers'][number]) => number) => stats.workers.reduce((a, w) => a + (Number(f(w)) || 0), 0);
  const capacity = sum((w) => w.capacityBytes);
  const used = sum((w) => w.usedBytes);
  const hits = sum((w) => w.hits);
  const misses = sum((w) => w.misses);
  status.cacheStates = {
    cacheCapacity: formatSize(capacity),
    cacheCapacityBytes: capacity,
    cached: formatSize(used),
    cachedBytes: used,
    cachedPercentage: pct(used, status.ufsTotalBytes ?? 0),
    hitRatio: pct(hits, hits + misses),
  };
  status.statsTime = at.toISOString().replace(/\.\d+Z$/, 'Z');
}
