import { pathToFileURL } from 'node:url';
import { HashRing } from '../../worker/client/ring.js';

export interface RingBenchResult {
  workers: number;
  keys: number;
  /** Largest worker load divided by the mean load (1.0 = perfect balance). */
  maxOverMean: number;
  /** Fraction of keys whose first owner changed when one more worker joined. */
  movedFraction: number;
  /** The ideal movement, 1/(workers+1). */
  idealMovedFraction: number;
  /** movedFraction / idealMovedFraction (1.0 = only the keys the new worker must take moved). */
  movedOverIdeal: number;
  /** Owner lookups per second (one key, replication 1), for the record only. */
  lookupsPerSec: number;
}

/** Measures balance and movement of the client's hash ring with realistic keys (paths and blocks). */
export function benchRing(workers = 10, keys = 100_000): RingBenchResult {
  const ids = Array.from({ length: workers }, (_, i) => `imagenet-worker-${i}`);
  const ring = new HashRing(ids);
  const keyList = Array.from({ length: keys }, (_, i) =>
    i % 4 === 0 ? `/train/n${(i * 7919) % 1000}/img_${i}.JPEG#${i % 3}` : `/train/n${(i * 7919) % 1000}/img_${i}.JPEG`,
  );
  const load = new Map<string, number>(ids.map((id) => [id, 0]));
  const before: string[] = [];
  const t0 = performance.now();
  for (const k of keyList) {
    const owner = ring.owners(k, 1)[0]!;
    before.push(owner);
    load.set(owner, load.get(owner)! + 1);
  }
  const elapsed = performance.now() - t0;
  const mean = keys / workers;
  const maxOverMean = Math.max(...load.values()) / mean;

  ring.add(`imagenet-worker-${workers}`);
  let moved = 0;
  keyList.forEach((k, i) => {
    if (ring.owners(k, 1)[0] !== before[i]) moved++;
  });
  const movedFraction = moved / keys;
  const idealMovedFraction = 1 / (workers + 1);
  return {
    workers,
    keys,
    maxOverMean,
    movedFraction,
    idealMovedFraction,
    movedOverIdeal: movedFraction / idealMovedFraction,
    lookupsPerSec: Math.round(keys / (elapsed / 1000)),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = benchRing();
  console.log(
    `ring: ${r.workers} workers, ${r.keys} keys: max/mean load ${r.maxOverMean.toFixed(3)} (bound 1.10); ` +
      `adding worker ${r.workers + 1} moved ${(r.movedFraction * 100).toFixed(2)}% of keys ` +
      `(ideal ${(r.idealMovedFraction * 100).toFixed(2)}%, ratio ${r.movedOverIdeal.toFixed(3)}, bound 1.10); ` +
      `${r.lookupsPerSec} lookups/s`,
  );
}
