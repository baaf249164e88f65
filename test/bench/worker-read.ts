// Cached read throughput of one worker from one client over loopback: a 256 MiB file (size via
// HOARD_BENCH_WORKER_MIB) is loaded into the MEM tier of a real `hoard worker` process, then read
// the way the client reads (worker/client WorkerConnection: 4 MiB requests, 4 in flight) through
// the data protocol, and through the gRPC Read for comparison. Prints MiB/s; `npm run bench`
// shows the data-protocol figure next to the >= 1 GiB/s goal.
// Standalone: npm run build && node dist/test/bench/worker-read.js
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { WorkerConnection } from '../../worker/client/connection.js';
import { rawWorkerClient, startWorkers } from '../support/workers.js';
import { benchContent } from './content.js';

export interface WorkerReadFigures {
  /** Through the data protocol (WorkerConnection.read). */
  mibPerSec: number;
  /** The same reads through the gRPC Read (WorkerConnection.readGrpc). */
  grpcMibPerSec: number;
  /** Through the data protocol into the caller's buffers (no allocation per request). */
  intoMibPerSec: number;
  /** Requests kept in flight. */
  streams: number;
  requestMiB: number;
  fileMiB: number;
}

const MIB = 1024 * 1024;

type ReadFn = (path: string, offset: number, length: number, version: string, into: Buffer | undefined) => Promise<Buffer>;

/**
 * Reads the whole file in `request`-sized pieces with `inFlight` requests outstanding; best MiB/s
 * of `rounds`. With `reuse`, each lane reads into one buffer of its own (the readInto path)
 * instead of a new buffer per request.
 */
async function measure(read: ReadFn, version: string, size: number, request: number, inFlight: number, rounds: number, reuse = false): Promise<number> {
  let best = 0;
  const buffers = Array.from({ length: inFlight }, () => (reuse ? Buffer.alloc(request) : undefined));
  for (let r = 0; r < rounds; r++) {
    let next = 0;
    let bytes = 0;
    const lane = async (i: number): Promise<void> => {
      while (next < size) {
        const at = next;
        next += request;
        const b = await read('/b/big.bin', at, Math.min(request, size - at), version, buffers[i]);
        bytes += b.length;
      }
    };
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: inFlight }, (_, i) => lane(i)));
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (bytes !== size) throw new Error(`worker-read bench: read ${bytes} of ${size} bytes`);
    best = Math.max(best, bytes / MIB / secs);
  }
  return best;
}

export async function workerReadFigures(): Promise<WorkerReadFigures> {
  const fileMiB = Number(process.env.HOARD_BENCH_WORKER_MIB ?? 256);
  const streams = Number(process.env.HOARD_BENCH_WORKER_STREAMS ?? 4);
  const requestMiB = Number(process.env.HOARD_BENCH_WORKER_REQUEST_MIB ?? 4);
  const rounds = Number(process.env.HOARD_BENCH_WORKER_ROUNDS ?? 5);
  const dir = await mkdtemp(join(tmpdir(), 'hoard-bench-worker-'));
  const size = fileMiB * MIB;
  await writeFile(join(dir, 'big.bin'), benchContent('worker-big.bin', size));
  const group = await startWorkers(1, { ufs: [`b=file://${dir}`], mem: `${fileMiB + 64}Mi`, disk: '0' });
  const raw = rawWorkerClient(group.workers[0].grpc);
  const conn = new WorkerConnection('w0', group.workers[0].grpc, 30_000);
  try {
    const loaded = await raw.load({ paths: ['/b/big.bin'] });
    if (loaded[loaded.length - 1]?.bytesDone !== size) throw new Error('worker-read bench: load did not cache the whole file');
    const { version } = await conn.stat('/b/big.bin');
    const request = requestMiB * MIB;
    const mibPerSec = await measure((p, o, l, v) => conn.read(p, o, l, v), version, size, request, streams, rounds);
    const intoMibPerSec = await measure((p, o, l, v, into) => conn.read(p, o, l, v, undefined, into), version, size, request, streams, rounds, true);
    const grpcMibPerSec = await measure((p, o, l, v) => conn.readGrpc(p, o, l, v), version, size, request, streams, rounds);
    const stats = await raw.stats();
    if (stats.ufsBytesRead !== size) throw new Error('worker-read bench: reads were not all cache hits');
    return { mibPerSec, grpcMibPerSec, intoMibPerSec, streams, requestMiB, fileMiB };
  } finally {
    conn.close();
    raw.close();
    await group.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  workerReadFigures().then(
    (f) =>
      console.log(
        `cached read, ${f.fileMiB} MiB file from MEM, ${f.requestMiB} MiB requests, ${f.streams} in flight: ` +
          `data protocol ${f.mibPerSec.toFixed(0)} MiB/s (goal >= 1024; into reused buffers ${f.intoMibPerSec.toFixed(0)} MiB/s), ` +
          `gRPC Read ${f.grpcMibPerSec.toFixed(0)} MiB/s`,
      ),
    (err: unknown) => {
      process.stderr.write(`worker-read bench: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
