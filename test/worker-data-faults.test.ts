// The data protocol when things go wrong: a caller's abort, a deadline, a worker SIGKILLed with
// reads in flight, a worker shutting down gracefully (in process, listening on [::1] port 0), and
// an older worker that only speaks gRPC. A stalling HTTP under-storage keeps reads in flight.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../lib/log.js';
import { WorkerConnection } from '../worker/client/connection.js';
import { isRetryable, WorkerCallError } from '../worker/client/errors.js';
import { workerConfigFromFlags } from '../worker/server/config.js';
import { workerServiceDefinition, type ReadChunk, type ReadRequest } from '../worker/server/proto.js';
import { startWorker } from '../worker/server/worker.js';
import { startWorkers, type WorkerGroup, workerFailure } from './support/workers.js';

const MiB = 1024 * 1024;
const SLOW_SIZE = 8 * MiB;

let dir: string;
let web: Server;
let webBase: string;
/** GETs the stalling server is holding open; once released, GETs fail fast (503) instead. */
const stalled = new Set<ServerResponse>();
let stalling = true;
const good = randomBytes(3 * MiB + 5);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hoard-worker-data-faults-'));
  await writeFile(join(dir, 'good.bin'), good);
  // HEAD answers at once (stat works); GET never answers until released: reads stay in flight.
  web = createServer((req, res) => {
    if (req.method === 'HEAD') return void res.writeHead(200, { 'content-length': SLOW_SIZE, etag: '"v1"' }).end();
    if (!stalling) return void res.writeHead(503).end();
    stalled.add(res);
    res.on('close', () => stalled.delete(res));
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  webBase = `http://127.0.0.1:${(web.address() as { port: number }).port}/`;
});

afterAll(async () => {
  releaseStalled();
  web?.closeAllConnections();
  await new Promise((r) => web?.close(r));
  await rm(dir, { recursive: true, force: true });
});

function releaseStalled(): void {
  stalling = false;
  for (const res of stalled) res.destroy();
}

beforeEach(() => {
  stalling = true;
});

const failure = workerFailure;

async function until(what: string, check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function cancelledReads(http: string): Promise<number> {
  const text = await (await fetch(`http://${http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('hoard_worker_rpc_duration_seconds_count{') && l.includes('method="ReadData"') && l.includes('code="CANCELLED"'));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('data protocol against a worker process', () => {
  let group: WorkerGroup;

  beforeAll(async () => {
    group = await startWorkers(1, { ufs: [`f=file://${dir}`, `s=${webBase}`], mem: '32Mi', disk: '0' });
  });

  afterAll(async () => {
    releaseStalled();
    await group?.stop();
  });

  it('an abort signal cancels the read at once, on the worker too, like a gRPC cancel', async () => {
    const conn = new WorkerConnection('w0', group.workers[0].grpc, 30_000);
    try {
      const before = await cancelledReads(group.workers[0].http);
      const results: WorkerCallError[] = [];
      for (const read of [conn.read.bind(conn), conn.readGrpc.bind(conn)]) {
        const abort = new AbortController();
        const p = failure(read('/s/slow.bin', 0, 4 * MiB, '', abort.signal));
        await new Promise((r) => setTimeout(r, 200));
        const t0 = Date.now();
        abort.abort();
        results.push(await p);
        expect(Date.now() - t0).toBeLessThan(1_000);
      }
      expect(results[0].code).toBe(results[1].code);
      expect(results[0].workerFault).toBe(results[1].workerFault);
      await until('the worker to count the data read as cancelled', async () => (await cancelledReads(group.workers[0].http)) > before);
      const aborted = new AbortController();
      aborted.abort();
      expect((await failure(conn.read('/f/good.bin', 0, 10, '', aborted.signal))).code).toBe(results[0].code);
      expect((await conn.read('/f/good.bin', 0, good.length, '')).equals(good)).toBe(true);
    } finally {
      conn.close();
    }
  });

  it('a read that outlives the deadline on a live worker is DEADLINE_EXCEEDED but no worker fault; on a frozen worker it is one', async () => {
    const conn = new WorkerConnection('w0', group.workers[0].grpc, 300);
    try {
      const before = await cancelledReads(group.workers[0].http);
      // The worker waits on its stalled store but answers Stats: slow storage, not a dead worker.
      const e = await failure(conn.read('/s/slow.bin', 4 * MiB, MiB, ''));
      expect(e.code).toBe('DEADLINE_EXCEEDED');
      expect(e.workerFault).toBe(false);
      expect(e.message).toMatch(/the worker answers, so its under-storage is slow/);
      await until('the worker to stop serving the timed-out read', async () => (await cancelledReads(group.workers[0].http)) > before);
      // The connection is still good for the next read.
      expect((await conn.read('/f/good.bin', 100, 1000, '')).equals(good.subarray(100, 1100))).toBe(true);
      // A worker that answers nothing at all (stopped) is a worker fault: the client moves on.
      process.kill(group.workers[0].pid, 'SIGSTOP');
      try {
        const frozen = await failure(conn.read('/f/good.bin', 0, 10, ''));
        expect(frozen.code).toBe('DEADLINE_EXCEEDED');
        expect(frozen.workerFault).toBe(true);
        expect(isRetryable(frozen)).toBe(true);
      } finally {
        process.kill(group.workers[0].pid, 'SIGCONT');
      }
      expect((await conn.read('/f/good.bin', 100, 1000, '')).equals(good.subarray(100, 1100))).toBe(true);
    } finally {
      conn.close();
    }
  });

  it('a worker SIGKILLed mid-read fails every pending read promptly as a retryable worker fault; the next read reconnects', async () => {
    const conn = new WorkerConnection('w0', group.workers[0].grpc, 30_000);
    try {
      expect((await conn.read('/f/good.bin', 0, good.length, '')).equals(good)).toBe(true);
      const pending = [0, 1, 2].map((i) => failure(conn.read('/s/slow.bin', i * MiB, MiB, '')));
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      await group.kill(0, 'SIGKILL');
      for (const e of await Promise.all(pending)) {
        expect(e.code).toBe('UNAVAILABLE');
        expect(e.workerFault).toBe(true);
        expect(isRetryable(e)).toBe(true);
      }
      expect(Date.now() - t0).toBeLessThan(2_000);
      const down = await failure(conn.read('/f/good.bin', 0, 10, ''));
      expect(down.workerFault).toBe(true);
      releaseStalled();
      await group.restart(0);
      expect((await conn.read('/f/good.bin', 0, good.length, '')).equals(good)).toBe(true);
    } finally {
      conn.close();
    }
  });
});

describe('data protocol in process', () => {
  const config = (): ReturnType<typeof workerConfigFromFlags> =>
    workerConfigFromFlags({ id: 'v6', listen: '[::1]:0', http: '127.0.0.1:0', ufs: [`f=file://${dir}`, `s=${webBase}`], tier: ['MEM:16Mi'] });

  it('closes at once when its data connections are idle', async () => {
    const worker = await startWorker(await config(), createLogger('test', 'silent'));
    const conn = new WorkerConnection('v6', worker.grpc, 30_000);
    try {
      await Promise.all([conn.read('/f/good.bin', 0, good.length, ''), conn.read('/f/good.bin', 0, 1000, ''), conn.stat('/f/good.bin')]);
      const t0 = Date.now();
      await worker.close();
      expect(Date.now() - t0).toBeLessThan(2_000);
      expect((await failure(conn.read('/f/good.bin', 0, 10, ''))).workerFault).toBe(true);
    } finally {
      conn.close();
      await worker.close();
    }
  });

  it('listens on [::1] port 0, and a graceful close ends data connections after the grace period', async () => {
    const worker = await startWorker(await config(), createLogger('test', 'silent'));
    let conn: WorkerConnection | undefined;
    try {
      expect(worker.grpc).toMatch(/^\[::1\]:[1-9]\d*$/);
      conn = new WorkerConnection('v6', worker.grpc, 30_000);
      expect((await conn.read('/f/good.bin', 0, good.length, '')).equals(good)).toBe(true);
      expect((await conn.stat('/f/good.bin')).size).toBe(good.length);
      const inFlight = failure(conn.read('/s/slow.bin', 0, MiB, ''));
      await new Promise((r) => setTimeout(r, 200));
      const t0 = Date.now();
      const closed = worker.close();
      const e = await inFlight;
      expect(e.code).toBe('UNAVAILABLE');
      expect(e.workerFault).toBe(true);
      // The grace period (5 s) lets the read try to finish; then its connection is cut.
      expect(Date.now() - t0).toBeGreaterThan(4_000);
      releaseStalled();
      await closed;
      expect((await failure(conn.read('/f/good.bin', 0, 10, ''))).workerFault).toBe(true);
    } finally {
      conn?.close();
      releaseStalled();
      await worker.close();
    }
  });
});

describe('a worker that only speaks gRPC', () => {
  it('is read through the gRPC Read, transparently', async () => {
    const body = randomBytes(2 * MiB + 77);
    const server = new grpc.Server();
    server.addService(workerServiceDefinition(), {
      Read: (call: grpc.ServerWritableStream<ReadRequest, ReadChunk>) => {
        const { offset, length } = call.request;
        for (let at = offset; at < Math.min(body.length, offset + length); at += 256 * 1024) {
          call.write({ offset: at, data: body.subarray(at, Math.min(body.length, offset + length, at + 256 * 1024)) });
        }
        call.end();
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const conn = new WorkerConnection('old', `127.0.0.1:${port}`, 5_000);
    try {
      const [a, b] = await Promise.all([conn.read('/x', 0, body.length, ''), conn.read('/x', 1000, MiB, '')]);
      expect(a.equals(body)).toBe(true);
      expect(b.equals(body.subarray(1000, 1000 + MiB))).toBe(true);
      expect((await conn.read('/x', 5, 10, '')).equals(body.subarray(5, 15))).toBe(true);
    } finally {
      conn.close();
      server.forceShutdown();
    }
  });
});
