import { rm } from 'node:fs/promises';
import { Registry } from 'prom-client';
import type { Logger } from '../../lib/log.js';
import { createWorkerMetrics } from '../metrics/worker-metrics.js';
import { CachedReader, MetadataCache, PageStore } from '../store/index.js';
import { assertRamFs, publishShortCircuit, type ShortCircuitInfo } from '../store/short-circuit.js';
import { createNamespace } from '../ufs/namespace.js';
import type { WorkerConfig } from './config.js';
import { createDataServer } from './data-server.js';
import { startGrpcServer } from './grpc-server.js';
import { startHttpServer } from './http.js';
import { chunkSizeFor } from './read.js';
import { Readiness } from './readiness.js';
import { workerHandlers, type WorkerContext } from './service.js';

/** Bytes a data-protocol READ takes from the cache per step (fewer awaits than 1 MiB chunks). */
const DATA_WINDOW = 4 * 1024 * 1024;

export interface RunningWorker {
  id: string;
  grpc: string;
  http: string;
  /** Graceful stop: refuse new calls, let running ones finish briefly, flush and close the store. */
  close(): Promise<void>;
}

/** Wires a worker: namespace -> metadata cache -> page store + reader -> gRPC + data port and HTTP server. */
export async function startWorker(cfg: WorkerConfig, logger: Logger): Promise<RunningWorker> {
  const registry = new Registry();
  const namespace = createNamespace(cfg.mounts, { storeTimeoutMs: cfg.storeTimeoutMs });
  const meta = new MetadataCache(namespace, { ttlMs: cfg.metaTtlMs, registry });
  const readiness = new Readiness(namespace);
  let store: PageStore;
  let shortCircuit: ShortCircuitInfo | undefined;
  try {
    const ramTier = cfg.tiers.find((t) => t.medium === 'MEM' && t.path !== undefined);
    if (ramTier) await assertRamFs(ramTier.path!, `--tier MEM:${ramTier.path}`);
    store = await PageStore.open({ pageSize: cfg.pageSize, tiers: cfg.tiers, eviction: cfg.eviction, registry, logger });
    // The disk tier code made the directory: now say where it is.
    if (ramTier) shortCircuit = await publishShortCircuit(ramTier.path!, cfg.id, cfg.pageSize, cfg.shortCircuitDir);
  } catch (err) {
    await namespace.close();
    throw err;
  }
  const reader = new CachedReader(store, meta, { pageSize: cfg.pageSize, registry, readAheadBytes: cfg.ufsReadAheadBytes });
  readiness.markStoreOpen();
  const metrics = createWorkerMetrics(cfg.id, { capacity: () => reader.stats(), ready: () => readiness.current() }, registry);
  const ctx: WorkerContext = {
    id: cfg.id,
    meta,
    reader,
    chunkSize: chunkSizeFor(cfg.pageSize),
    pageSize: cfg.pageSize,
    shortCircuit,
    loadConcurrency: cfg.loadConcurrency,
    metrics,
    logger,
    ready: () => readiness.current(),
    readyReason: () => readiness.currentReason(),
    purge: () =>
      (purging ??= (async () => {
        readiness.markStopping();
        await closeStore();
        const dirs = cfg.tiers.filter((t) => t.medium !== 'MEM' && t.path !== undefined).map((t) => t.path!);
        for (const dir of dirs) await rm(dir, { recursive: true, force: true });
        return dirs;
      })()),
  };
  let purging: Promise<string[]> | undefined;
  const handlers = workerHandlers(ctx);
  const data = createDataServer({ meta, reader, windowSize: chunkSizeFor(cfg.pageSize, DATA_WINDOW), metrics, logger });
  let storeClosed: Promise<void> | undefined;
  const closeStore = (): Promise<void> =>
    (storeClosed ??= (async () => {
      await reader.close();
      await namespace.close();
    })());
  let grpcServer;
  let httpServer;
  try {
    grpcServer = await startGrpcServer(handlers, cfg.listen, data, logger);
    httpServer = await startHttpServer(cfg.http, { registry, readiness: () => readiness.check(), logger });
  } catch (err) {
    await grpcServer?.close(0);
    await closeStore();
    throw err;
  }
  // Keep Stats.ready and the ready gauge fresh even when nobody probes /readyz.
  void readiness.check();
  const refresh = setInterval(() => void readiness.check(), 10_000);
  refresh.unref();
  const [g, h] = [grpcServer, httpServer];
  let closing: Promise<void> | undefined;
  return {
    id: cfg.id,
    grpc: g.address,
    http: h.address,
    close: () =>
      (closing ??= (async () => {
        clearInterval(refresh);
        readiness.markStopping();
        await g.close(5_000);
        await h.close();
        await closeStore();
      })()),
  };
}
