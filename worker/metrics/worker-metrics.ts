import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

// The worker's own metrics. The page store and reader register theirs (hits, misses, bytes and
// evictions per tier, UFS bytes) on the same registry, so /metrics shows one coherent picture.

export interface TierCapacitySource {
  tiers: { label: string; capacityBytes: number }[];
  writeBehindPending: number;
}

export interface WorkerMetricsSources {
  capacity(): TierCapacitySource;
  ready(): boolean;
}

export interface WorkerMetrics {
  registry: Registry;
  /** Times one RPC; call the returned function with the final gRPC status name. */
  startRpc(method: string): (code: string) => void;
  /** Bytes streamed to clients by Read. */
  servedBytes: Counter;
  loadBytes: Counter;
}

export function createWorkerMetrics(workerId: string, sources: WorkerMetricsSources, registry = new Registry()): WorkerMetrics {
  registry.setDefaultLabels({ worker: workerId });
  collectDefaultMetrics({ register: registry });
  const rpcSeconds = new Histogram({
    name: 'hoard_worker_rpc_duration_seconds',
    help: 'Duration of worker RPCs until the last message is sent, by method and gRPC status',
    labelNames: ['method', 'code'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
    registers: [registry],
  });
  new Gauge({
    name: 'hoard_cache_capacity_bytes',
    help: 'Quota of each cache tier',
    labelNames: ['tier'],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of sources.capacity().tiers) this.set({ tier: t.label }, t.capacityBytes);
    },
  });
  new Gauge({
    name: 'hoard_cache_write_behind_pending_pages',
    help: 'Pages in memory not yet copied to the disk tier below (0: a restart keeps everything cached)',
    registers: [registry],
    collect() {
      this.set(sources.capacity().writeBehindPending);
    },
  });
  new Gauge({
    name: 'hoard_worker_ready',
    help: '1 when the store is open and every mount answered its last reachability check',
    registers: [registry],
    collect() {
      this.set(sources.ready() ? 1 : 0);
    },
  });
  return {
    registry,
    startRpc(method) {
      const end = rpcSeconds.startTimer({ method });
      return (code) => void end({ code });
    },
    servedBytes: new Counter({ name: 'hoard_worker_read_bytes_total', help: 'Bytes streamed to clients by Read', registers: [registry] }),
    loadBytes: new Counter({ name: 'hoard_worker_load_bytes_total', help: 'Bytes pulled into the cache by Load', registers: [registry] }),
  };
}
