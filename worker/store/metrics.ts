import { Counter, Gauge, Histogram, Registry } from 'prom-client';

// Metrics live on the registry the worker passes in (or a private one). Several stores/readers
// may share a registry (tests, or a worker restarting its store): each metric is created once
// per registry and reused, and the tier gauges sum over every open store on that registry.

export interface TierGaugeSource {
  tierUsage(): { label: string; bytes: number; pages: number }[];
}

const sources = new WeakMap<Registry, Set<TierGaugeSource>>();

function sourcesOf(registry: Registry): Set<TierGaugeSource> {
  let set = sources.get(registry);
  if (!set) {
    set = new Set();
    sources.set(registry, set);
  }
  return set;
}

function reuse<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

export interface StoreMetrics {
  evictions: Counter<'tier'>;
  checksumFailures: Counter;
  attach(source: TierGaugeSource): void;
  detach(source: TierGaugeSource): void;
}

export function storeMetrics(registry: Registry): StoreMetrics {
  const set = sourcesOf(registry);
  const tierGauge = (name: string, help: string, pick: (u: { bytes: number; pages: number }) => number): void => {
    reuse(registry, name, () =>
      new Gauge({
        name,
        help,
        labelNames: ['tier'],
        registers: [registry],
        collect() {
          this.reset();
          for (const s of set) for (const u of s.tierUsage()) this.inc({ tier: u.label }, pick(u));
        },
      }),
    );
  };
  tierGauge('hoard_cache_bytes', 'Bytes held by each cache tier', (u) => u.bytes);
  tierGauge('hoard_cache_pages', 'Pages held by each cache tier', (u) => u.pages);
  return {
    evictions: reuse(registry, 'hoard_cache_evictions_total', () =>
      new Counter({ name: 'hoard_cache_evictions_total', help: 'Pages evicted, by tier', labelNames: ['tier'], registers: [registry] }),
    ),
    checksumFailures: reuse(registry, 'hoard_page_checksum_failures_total', () =>
      new Counter({
        name: 'hoard_page_checksum_failures_total',
        help: 'Disk pages dropped because their header or checksum did not verify',
        registers: [registry],
      }),
    ),
    attach: (s) => void set.add(s),
    detach: (s) => void set.delete(s),
  };
}

export interface ReaderMetrics {
  hits: Counter;
  misses: Counter;
  ufsReadBytes: Counter;
  ufsReadSeconds: Histogram;
}

export function readerMetrics(registry: Registry): ReaderMetrics {
  return {
    hits: reuse(registry, 'hoard_cache_hits_total', () =>
      new Counter({ name: 'hoard_cache_hits_total', help: 'Pages served from the cache', registers: [registry] }),
    ),
    misses: reuse(registry, 'hoard_cache_misses_total', () =>
      new Counter({ name: 'hoard_cache_misses_total', help: 'Pages read through from the under-storage', registers: [registry] }),
    ),
    ufsReadBytes: reuse(registry, 'hoard_ufs_read_bytes_total', () =>
      new Counter({ name: 'hoard_ufs_read_bytes_total', help: 'Bytes read from the under-storage', registers: [registry] }),
    ),
    ufsReadSeconds: reuse(registry, 'hoard_ufs_read_seconds', () =>
      new Histogram({
        name: 'hoard_ufs_read_seconds',
        help: 'Duration of one ranged under-storage read (one run of pages)',
        buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers: [registry],
      }),
    ),
  };
}
