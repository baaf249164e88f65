import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { HashRing } from '../../worker/client/ring.js';
import { ownedShare } from '../../worker/server/ring-share.js';

export interface StatsRingFigures {
  pages: number;
  /** Wall time of one walk per 100,000 cached pages (after a warm-up walk). */
  msPer100kPages: number;
  /** The longest the event loop waited during a walk: what a read arriving meanwhile waits at most. */
  maxLoopDelayMs: number;
}

/**
 * What a worker spends answering the operator's Stats poll with a ring (owned_bytes): a walk over
 * every cached page, here 100,000 files of ten 1 MiB pages (about 1 TiB), 4 workers on the ring.
 */
export async function benchStatsRing(files = 100_000): Promise<StatsRingFigures> {
  const pages = new Map<string, number>();
  for (let f = 0; f < files; f++) for (let i = 0; i < 10; i++) pages.set(`/train/n${f % 1000}/img_${f}.JPEG\0"etag-${f}"\0${i}`, 1 << 20);
  const req = { ring: new HashRing(['imagenet-worker-0', 'imagenet-worker-1', 'imagenet-worker-2', 'imagenet-worker-3']), blockSize: 64 << 20 };
  await ownedShare(pages.entries(), 'imagenet-worker-1', req, 1 << 20);
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const t0 = performance.now();
  await ownedShare(pages.entries(), 'imagenet-worker-1', req, 1 << 20);
  const ms = performance.now() - t0;
  delay.disable();
  return { pages: pages.size, msPer100kPages: (ms / pages.size) * 100_000, maxLoopDelayMs: delay.max / 1e6 };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await benchStatsRing();
  console.log(`Stats weighed by the ring over ${r.pages} cached pages: ${r.msPer100kPages.toFixed(1)} ms per 100,000 pages; event loop held at most ${r.maxLoopDelayMs.toFixed(1)} ms`);
}
