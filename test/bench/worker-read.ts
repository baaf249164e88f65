// Cached read throughput of one worker from one client over loopback: a 256 MiB file (size via
// HOARD_BENCH_WORKER_MIB) is loaded into the MEM tier, then read through the Read RPC by a few
// concurrent streams. Prints MiB/s; `npm run bench` shows it next to the >= 1 GiB/s goal.
// Standalone: node dist/test/bench/worker-read.js
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { rawWorkerClient, startWorkers } from '../support/workers.js';
import { benchContent } from './content.js';

export interface WorkerReadFigures {
  mibPerSec: number;
  streams: number;
  fileMiB: number;
}

const MIB = 1024 * 1024;

export async function workerReadFigures(): Promise<WorkerReadFigures> {
  const fileMiB = Number(process.env.HOARD_BENCH_WORKER_MIB ?? 256);
  const streams = Number(process.env.HOARD_BENCH_WORKER_STREAMS ?? 4);
  const rounds = Number(process.env.HOARD_BENCH_WORKER_ROUNDS ?? 3);
  const dir = await mkdtemp(join(tmpdir(), 'hoard-bench-worker-'));
  const size = fileMiB * MIB;
  await writeFile(join(dir, 'big.bin'), benchContent('worker-big.bin', size));
  const group = await startWorkers(1, { ufs: [`b=file://${dir}`], mem: `${fileMiB + 64}Mi`, disk: '0' });
  const client = rawWorkerClient(group.workers[0].grpc);
  try {
    const loaded = await client.load({ paths: ['/b/big.bin'] });
    if (loaded[loaded.length - 1]?.bytesDone !== size) throw new Error('worker-read bench: load did not cache the whole file');
    let best = 0;
    for (let r = 0; r < rounds; r++) {
      const per = Math.ceil(size / streams);
      const t0 = process.hrtime.bigint();
      const got = await Promise.all(
        Array.from({ length: streams }, (_, i) =>
          new Promise<number>((resolve, reject) => {
            let n = 0;
            const call = client.stub.Read({ path: '/b/big.bin', offset: i * per, length: per });
            call.on('data', (c: { data: Buffer }) => (n += c.data.length));
            call.on('error', reject);
            call.on('end', () => resolve(n));
          }),
        ),
      );
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      const bytes = got.reduce((a, b) => a + b, 0);
      if (bytes !== size) throw new Error(`worker-read bench: read ${bytes} of ${size} bytes`);
      best = Math.max(best, bytes / MIB / secs);
    }
    const stats = await client.stats();
    if (stats.ufsBytesRead !== size) throw new Error('worker-read bench: reads were not all cache hits');
    return { mibPerSec: best, streams, fileMiB };
  } finally {
    client.close();
    await group.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  workerReadFigures().then(
    (f) => console.log(`cached Read, ${f.streams} streams, ${f.fileMiB} MiB file from MEM: ${f.mibPerSec.toFixed(0)} MiB/s (goal >= 1024)`),
    (err: unknown) => {
      process.stderr.write(`worker-read bench: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
