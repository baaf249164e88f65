// The under-storage bound of Hoard's cold pass: Hoard's own S3 connector (the workers' code path
// for a miss) reading the benchmark's bytes with nothing else: no cache, no page files, no FUSE,
// no client. The big file goes as the workers fetch it (16 MiB ranged GETs, two in flight, one
// per worker), the small files one GET each, 16 in flight as the readers ask. Bytes are counted
// and dropped. On a 2-core machine this is what a Node process can pull from the S3 server while
// the server competes for the same cores, so a cold Hoard pass cannot beat it.
// env: the mount's endpoint and credentials (HOARD_BENCH_S3_ENDPOINT, AWS_ACCESS_KEY_ID, ...).
// Prints one JSON line: {"big":{"bytes","seconds"},"small":{"bytes","seconds"}}.
import type { Readable } from 'node:stream';
import { createUfs } from '../../worker/ufs/factory.js';

const endpoint = process.env.HOARD_BENCH_S3_ENDPOINT;
const bucket = process.env.HOARD_BENCH_S3_BUCKET ?? 'bench';
if (!endpoint) throw new Error('HOARD_BENCH_S3_ENDPOINT: set it to the S3 server, e.g. http://127.0.0.1:9000');
const ufs = createUfs({ name: 'bench', uri: `s3://${bucket}`, options: { endpoint, region: 'us-east-1', pathStyle: 'true' } });
const RANGE = 16 * 2 ** 20;

async function drain(stream: Readable): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += (chunk as Buffer).length;
  return n;
}

async function lanes(count: number, jobs: (() => Promise<number>)[]): Promise<number> {
  let next = 0;
  let bytes = 0;
  await Promise.all(Array.from({ length: count }, async () => {
    while (next < jobs.length) {
      const n = await jobs[next++]!();
      bytes += n;
    }
  }));
  return bytes;
}

async function timed(run: () => Promise<number>): Promise<{ bytes: number; seconds: number }> {
  const t0 = performance.now();
  const bytes = await run();
  return { bytes, seconds: (performance.now() - t0) / 1000 };
}

const big = await timed(async () => {
  const { size } = await ufs.stat('/big.bin');
  const ranges = Array.from({ length: Math.ceil(size / RANGE) }, (_, i) => i * RANGE);
  return lanes(2, ranges.map((off) => async () => drain(await ufs.read('/big.bin', off, Math.min(RANGE, size - off)))));
});
const small = await timed(async () => {
  const entries = await ufs.list('/small');
  return lanes(16, entries.map((e) => async () => drain(await ufs.read(`/small/${e.name}`, 0, e.size))));
});
await ufs.close();
process.stdout.write(`${JSON.stringify({ big, small })}\n`);
