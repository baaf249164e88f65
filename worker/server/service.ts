import * as grpc from '@grpc/grpc-js';
import { HoardError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { WorkerMetrics } from '../metrics/worker-metrics.js';
import type { ReaderStats } from '../store/types.js';
import type { ShortCircuitInfo } from '../store/short-circuit.js';
import type { UfsEntry } from '../ufs/types.js';
import { logFailure, statusNameOf, toServiceError } from './errors.js';
import { runLoad, type LoadPlan, type RangeLoader } from './load.js';
import { checkedRingRequest, ownedShare } from './ring-share.js';
import { checkedTouch, type CheckedTouch } from './touch.js';
import type { ListRequest, LoadRequest, ReadChunk, ReadRequest, StatRequest, WireFileInfo, WireLoadProgress } from './proto.js';
import { readChunks, resolveReadTarget, type MetadataSource, type RangeReader, type SliceReader } from './read.js';
import { checkedRead, requestCount, requestInteger, requestPath } from './validate.js';

/** Everything the RPC handlers use; built by startWorker. */
export interface WorkerContext {
  id: string;
  meta: MetadataSource;
  reader: RangeReader & SliceReader & RangeLoader & {
    stats(): ReaderStats;
    pages(): Iterable<[key: string, bytes: number]>;
    touch(report: CheckedTouch): { touched: number; hits: number };
  };
  chunkSize: number;
  pageSize: number;
  /** Where clients on this host may read the MEM tier's page files (Stats), if they may. */
  shortCircuit?: ShortCircuitInfo;
  loadConcurrency: number;
  metrics: WorkerMetrics;
  logger: Logger;
  ready(): boolean;
  readyReason(): string;
  /** Stop serving and remove the disk tiers' directories; the directories removed. */
  purge(): Promise<string[]>;
}

const MAX_LOAD_CONCURRENCY = 256;
const MAX_LOAD_ENTRIES = 100_000;
/** 1 TiB/s: more than any link; beyond it the number is a mistake, not a limit. */
const MAX_BANDWIDTH = 2 ** 40;

/** A handler's synchronous throw becomes a rejection, so it is answered like any other failure. */
function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * The Worker service handlers. Each one validates, delegates to read.ts / load.ts / the cache,
 * and turns every failure into a gRPC status through errors.ts: a bad request never throws out
 * of a handler.
 */
export function workerHandlers(ctx: WorkerContext): grpc.UntypedServiceImplementation {
  const unary = <Req, Res>(method: string, fn: (req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      const end = ctx.metrics.startRpc(method);
      guarded(() => fn(call.request)).then(
        (res) => {
          end('OK');
          callback(null, res);
        },
        (err: unknown) => {
          end(statusNameOf(err));
          logFailure(ctx.logger, method, err);
          callback(toServiceError(err));
        },
      );
    };

  const streaming = <Req, Res>(method: string, fn: (call: grpc.ServerWritableStream<Req, Res>, signal: AbortSignal) => Promise<void>): grpc.handleServerStreamingCall<Req, Res> =>
    (call) => {
      const end = ctx.metrics.startRpc(method);
      const abort = new AbortController();
      call.on('cancelled', () => abort.abort());
      guarded(() => fn(call, abort.signal)).then(
        () => {
          end(abort.signal.aborted ? 'CANCELLED' : 'OK');
          if (!abort.signal.aborted) call.end();
        },
        (err: unknown) => {
          end(abort.signal.aborted ? 'CANCELLED' : statusNameOf(err));
          if (abort.signal.aborted) return;
          logFailure(ctx.logger, method, err);
          call.emit('error', toServiceError(err));
        },
      );
    };

  return {
    Stat: unary<StatRequest, WireFileInfo>('Stat', async (req) => toWire(await ctx.meta.stat(requestPath(req.path)))),

    List: streaming<ListRequest, WireFileInfo>('List', async (call, signal) => {
      const entries = await ctx.meta.list(requestPath(call.request.path));
      for (const e of entries) {
        if (signal.aborted) return;
        await send(call, toWire(e), signal);
      }
    }),

    Read: streaming<ReadRequest, ReadChunk>('Read', async (call, signal) => {
      const { path, offset, length, version } = checkedRead({ ...call.request, size: undefined });
      const info = await resolveReadTarget(ctx.meta, path, version);
      for await (const chunk of readChunks(ctx.reader, info, offset, length, { chunkSize: ctx.chunkSize, signal })) {
        if (signal.aborted) return;
        ctx.metrics.servedBytes.inc(chunk.data.length);
        await send(call, chunk, signal);
      }
    }),

    Load: streaming<LoadRequest, WireLoadProgress>('Load', async (call, signal) => {
      const plan = loadPlan(call.request, ctx.loadConcurrency);
      ctx.logger.info({ paths: plan.paths.length, items: plan.items.length, concurrency: plan.concurrency, bandwidth: plan.bandwidthBytesPerSec }, 'load started');
      const before = ctx.reader.stats().ufsBytesRead;
      const final = await runLoad(
        { meta: ctx.meta, reader: ctx.reader, pageSize: ctx.pageSize, logger: ctx.logger },
        plan,
        { signal, onProgress: (p) => void (signal.aborted || call.write(p)) },
      );
      ctx.metrics.loadBytes.inc(Math.max(0, ctx.reader.stats().ufsBytesRead - before));
      ctx.logger.info({ ...final, failedPaths: undefined, cancelled: signal.aborted }, 'load finished');
    }),

    Touch: unary<{ pageKeys?: unknown; reads?: unknown; unlistedReads?: unknown }, object>('Touch', async (req) => ctx.reader.touch(checkedTouch(req))),

    Purge: unary<{ workerId?: unknown }, object>('Purge', async (req) => {
      if (req.workerId !== ctx.id) throw new HoardError('INVALID_ARGUMENT', `worker_id: "${String(req.workerId)}" is not this worker ("${ctx.id}"); purge names the worker it means`);
      ctx.logger.warn({ worker: ctx.id }, 'purge: removing the cache tiers on request');
      return { removed: await ctx.purge() };
    }),

    Stats: unary<{ ring?: unknown; blockSize?: unknown }, object>('Stats', async (req) => {
      const ring = checkedRingRequest(req);
      // Weighed first, then the totals: pages cached meanwhile are in the totals, never only in the share.
      const owned = ring && (await ownedShare(ctx.reader.pages(), ctx.id, ring, ctx.pageSize));
      const s = ctx.reader.stats();
      return {
        workerId: ctx.id,
        capacityBytes: s.capacityBytes,
        usedBytes: s.usedBytes,
        pages: s.pages,
        hits: s.hits,
        misses: s.misses,
        ufsBytesRead: s.ufsBytesRead,
        evictions: s.evictions,
        filesCached: s.filesCached,
        writeBehindPending: s.writeBehindPending,
        ready: ctx.ready(),
        readyReason: ctx.readyReason(),
        tiers: s.tiers.map((t) => ({ medium: t.medium, capacityBytes: t.capacityBytes, usedBytes: t.usedBytes, pages: t.pages })),
        shortCircuit: ctx.shortCircuit,
        // Pages evicted during the walk may have been weighed: never more than the totals.
        ...(owned && { ownedBytes: Math.min(owned.bytes, s.usedBytes), ownedPages: Math.min(owned.pages, s.pages) }),
      };
    }),
  };
}

function loadPlan(req: LoadRequest, defaultConcurrency: number): LoadPlan {
  const entries = (req.paths?.length ?? 0) + (req.items?.length ?? 0);
  if (entries > MAX_LOAD_ENTRIES) {
    throw new HoardError('INVALID_ARGUMENT', `paths/items: ${entries} entries; at most ${MAX_LOAD_ENTRIES} per request, split the job or load a parent directory`);
  }
  const paths = (req.paths ?? []).map((p, i) => requestPath(p, `paths[${i}]`));
  const items = (req.items ?? []).map((it, i) => ({
    path: requestPath(it?.path, `items[${i}].path`),
    offset: requestCount(it?.offset, `items[${i}].offset`),
    length: requestCount(it?.length, `items[${i}].length`),
  }));
  if (paths.length + items.length === 0) throw new HoardError('INVALID_ARGUMENT', 'paths/items: give at least one path (e.g. "/train") or item to load');
  const concurrency = requestInteger(req.concurrency, 'concurrency', MAX_LOAD_CONCURRENCY, 'requests (0 = the worker default)');
  return {
    paths,
    items,
    concurrency: concurrency || defaultConcurrency,
    bandwidthBytesPerSec: requestInteger(req.bandwidthBytesPerSec, 'bandwidth_bytes_per_sec', MAX_BANDWIDTH, 'bytes per second (0 = unlimited)'),
    metadataOnly: req.metadataOnly === true,
  };
}

/** Writes one message, waiting for the stream to drain (or the call to be cancelled) when it is full. */
function send<T>(call: grpc.ServerWritableStream<unknown, T>, msg: T, signal: AbortSignal): Promise<void> {
  if (call.write(msg)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    call.on('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

export function toWire(e: UfsEntry): WireFileInfo {
  return { path: e.path, name: e.name, isDir: e.isDir, size: e.size, mtimeMs: Math.floor(e.mtimeMs), version: e.version };
}
