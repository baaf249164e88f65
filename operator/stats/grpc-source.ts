import * as grpc from '@grpc/grpc-js';
import { toStats, workerServiceCtor } from '../../worker/client/connection.js';
import { DEFAULT_BLOCK_SIZE } from '../../worker/client/ring.js';
import type { WorkerStats } from '../../worker/client/types.js';
import { workerEndpoints } from './endpoints.js';
import { WORKER_GRPC_PORT } from '../builders/names.js';
import type { DatasetRef, DatasetStats, StatsSource, WorkerPod } from './source.js';

interface RawFileInfo {
  path: string;
  isDir: boolean;
  size: number;
}

type WorkerStub = grpc.Client & {
  Stats(req: { ring?: string[]; blockSize?: number }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: object) => void): void;
  Purge(req: { workerId: string }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: { removed?: string[] }) => void): void;
  List(req: { path: string }, opts: grpc.CallOptions): grpc.ClientReadableStream<RawFileInfo>;
};

function workerClientCtor(): new (address: string, creds: grpc.ChannelCredentials) => WorkerStub {
  return workerServiceCtor() as unknown as new (address: string, creds: grpc.ChannelCredentials) => WorkerStub;
}

export interface GrpcStatsOptions {
  overrides?: Map<string, string[]>;
  clusterDomain?: string;
  timeoutMs?: number;
  /** Bounds on the UFS walk: a huge bucket must not stall the operator. */
  maxUfsEntries?: number;
  maxUfsWalkMs?: number;
}

/**
 * Stats straight from each worker's gRPC Stats call, and UFS totals from a bounded recursive
 * List on one worker (every worker serves metadata for the whole namespace).
 */
export class GrpcStatsSource implements StatsSource {
  constructor(private readonly opts: GrpcStatsOptions = {}) {}

  async collect(ref: DatasetRef, { withUfs }: { withUfs: boolean }): Promise<DatasetStats> {
    const endpoints = workerEndpoints(ref, this.opts.overrides ?? new Map(), this.opts.clusterDomain);
    const result: DatasetStats = { workers: [], unreachable: [], ...(ref.ring && { ring: ref.ring }) };
    // The clients' block size is the default: no mount or loader sets another.
    const weigh = ref.ring && { ring: ref.ring, blockSize: DEFAULT_BLOCK_SIZE };
    await Promise.all(
      endpoints.map(async (endpoint) => {
        try {
          result.workers.push(await this.stats(endpoint, weigh));
        } catch (e) {
          result.unreachable.push({ endpoint, error: (e as Error).message });
        }
      }),
    );
    if (withUfs) {
      for (const endpoint of endpoints) {
        if (result.unreachable.some((u) => u.endpoint === endpoint)) continue;
        try {
          result.ufs = await this.walk(endpoint);
          break;
        } catch {
          // try the next worker
        }
      }
    }
    return result;
  }

  /** A pod's gRPC endpoint: the override for its ordinal, else its IP (unready pods have no DNS name). */
  private podEndpoint(ref: DatasetRef, p: WorkerPod): string | undefined {
    const override = this.opts.overrides?.get(`${ref.namespace}/${ref.name}`);
    if (override) return override[p.ordinal];
    return p.podIP ? `${p.podIP.includes(':') ? `[${p.podIP}]` : p.podIP}:${WORKER_GRPC_PORT}` : undefined;
  }

  async purge(ref: DatasetRef, pods: WorkerPod[]): Promise<Map<string, { removed?: string[]; error?: string }>> {
    const out = new Map<string, { removed?: string[]; error?: string }>();
    await Promise.all(
      pods.map(async (p) => {
        const endpoint = this.podEndpoint(ref, p);
        if (!endpoint) return void out.set(p.pod, { error: 'the pod has no IP' });
        const deadline = Date.now() + (this.opts.timeoutMs ?? 3000) * 3;
        const r = await this.withClient(endpoint, (c) => new Promise<{ removed?: string[] }>((resolve, reject) => {
          c.Purge({ workerId: p.pod }, { deadline }, (err, res) => (err ? reject(new Error(`${endpoint}: ${err.details || err.message}`)) : resolve(res)));
        })).catch((e: unknown) => ({ error: (e as Error).message }));
        out.set(p.pod, 'error' in r ? r : { removed: r.removed ?? [] });
      }),
    );
    return out;
  }

  async readyReasons(ref: DatasetRef, pods: WorkerPod[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    await Promise.all(
      pods.map(async (p) => {
        const endpoint = this.podEndpoint(ref, p);
        if (!endpoint) return;
        const s = await this.stats(endpoint).catch(() => undefined);
        if (s?.readyReason) out.set(p.pod, s.readyReason);
      }),
    );
    return out;
  }

  async close(): Promise<void> {}

  private withClient<T>(endpoint: string, fn: (c: WorkerStub) => Promise<T>): Promise<T> {
    const Ctor = workerClientCtor();
    const client = new Ctor(endpoint, grpc.credentials.createInsecure());
    return fn(client).finally(() => client.close());
  }

  /** One worker's Stats; with a ring, it also weighs its pages by it (ownedBytes). */
  private stats(endpoint: string, weigh?: { ring: string[]; blockSize: number }): Promise<WorkerStats> {
    const deadline = Date.now() + (this.opts.timeoutMs ?? 3000);
    return this.withClient(
      endpoint,
      (c) =>
        new Promise<WorkerStats>((resolve, reject) => {
          c.Stats(weigh ?? {}, { deadline }, (err, res) => {
            if (err) return reject(new Error(`${endpoint}: ${err.details || err.message}`));
            resolve(toStats(res, endpoint));
          });
        }),
    );
  }

  private walk(endpoint: string): Promise<{ totalBytes: number; fileCount: number; truncated: boolean }> {
    const maxEntries = this.opts.maxUfsEntries ?? 200_000;
    const stopAt = Date.now() + (this.opts.maxUfsWalkMs ?? 20_000);
    return this.withClient(endpoint, async (c) => {
      let totalBytes = 0;
      let fileCount = 0;
      let seen = 0;
      const dirs = ['/'];
      while (dirs.length > 0) {
        if (seen >= maxEntries || Date.now() > stopAt) return { totalBytes, fileCount, truncated: true };
        const dir = dirs.shift()!;
        const entries = await listDir(c, dir, stopAt);
        for (const e of entries) {
          seen++;
          if (e.isDir) dirs.push(e.path || `${dir === '/' ? '' : dir}/${(e as { name?: string }).name ?? ''}`);
          else {
            fileCount++;
            totalBytes += Number(e.size) || 0;
          }
        }
      }
      return { totalBytes, fileCount, truncated: false };
    });
  }
}

function listDir(c: WorkerStub, path: string, deadline: number): Promise<RawFileInfo[]> {
  return new Promise((resolve, reject) => {
    const out: RawFileInfo[] = [];
    const stream = c.List({ path }, { deadline });
    stream.on('data', (e: RawFileInfo) => out.push(e));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
  });
}
