import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/root.js';
import type { DatasetStatus } from '../operator/api/types.js';
import { applyStats, statsMessage } from '../operator/controllers/dataset-status.js';
import { GrpcStatsSource } from '../operator/stats/grpc-source.js';

/**
 * A worker from before owned_bytes, on a real gRPC socket speaking its wire format (today's
 * worker.proto without the new fields): the operator still gets its stats, counts its bytes as
 * cached, and says they may include stale copies.
 */
async function oldWorker(asked: object[]): Promise<{ address: string; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'hoard-old-worker-'));
  const proto = (await readFile(join(packageRoot(), 'worker', 'proto', 'worker.proto'), 'utf8'))
    .replace(/^\s*optional uint64 owned_(bytes|pages) = \d+;$/gm, '')
    .replace(/message StatsRequest \{[^}]*\}/, 'message StatsRequest {}');
  expect(proto).not.toMatch(/owned_bytes|block_size|repeated string ring/);
  await writeFile(join(dir, 'worker.proto'), proto);
  const def = protoLoader.loadSync(join(dir, 'worker.proto'), { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  const server = new grpc.Server();
  server.addService(def['hoard.worker.v1.Worker'] as grpc.ServiceDefinition, {
    Stats: (call: grpc.ServerUnaryCall<object, object>, cb: grpc.sendUnaryData<object>) => {
      asked.push(call.request);
      cb(null, { workerId: 'old-worker-0', capacityBytes: 64 << 20, usedBytes: 3_000_000, pages: 3, hits: 9, misses: 3, ready: true, readyReason: 'ready' });
    },
    List: (call: grpc.ServerWritableStream<object, object>) => call.end(),
  });
  const port = await new Promise<number>((ok, fail) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))));
  return {
    address: `127.0.0.1:${port}`,
    close: async () => {
      server.forceShutdown();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('stats from an older worker', () => {
  it('without owned bytes: all of its bytes count as cached, and the condition message says they may include stale copies', async () => {
    const asked: object[] = [];
    const w = await oldWorker(asked);
    try {
      const source = new GrpcStatsSource({ overrides: new Map([['ml/old', [w.address]]]) });
      const stats = await source.collect({ namespace: 'ml', name: 'old', replicas: 1, ring: ['old-worker-0'] }, { withUfs: true });
      expect(stats.unreachable).toEqual([]);
      expect(stats.workers[0]).toMatchObject({ workerId: 'old-worker-0', usedBytes: 3_000_000 });
      expect(stats.workers[0]!.ownedBytes).toBeUndefined();
      expect(asked).toEqual([{}]); // the ring it cannot read is dropped on its side, and the call still answers

      const status: DatasetStatus = {};
      const { unweighed } = applyStats(status, stats, new Date('2026-01-01T00:00:00Z'));
      expect(status.cacheStates).toMatchObject({ cachedBytes: 3_000_000, staleBytes: 0, hitRatio: '75.0%' });
      expect(unweighed).toEqual(['old-worker-0']);
      expect(statsMessage(stats, unweighed)).toBe('stats from 1 worker(s); cached bytes include stale copies on old-worker-0: workers of an older version do not report what they own on the ring');
      // Without a known ring, the same fallback, for the other reason.
      expect(statsMessage({ ...stats, ring: undefined }, unweighed)).toMatch(/stale copies on old-worker-0: the ring is unknown/);
    } finally {
      await w.close();
    }
  });
});
