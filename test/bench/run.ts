// `npm run bench`: one run, side by side, on the same bytes. Hoard through FUSE (cold, warm with
// the page cache dropped, warm as a user sees it) against local disk, s3fs and rclone mounts of
// the same bucket, and the ceiling of the fuse-native stack; then the worker-level figures.
// Prints a table of MiB/s, seconds and the target ratios. Sizes: HOARD_BENCH_BIG_MIB (256),
// HOARD_BENCH_SMALL_FILES (2000), HOARD_BENCH_SMALL_KIB (64).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';
import { startS3Server } from '../support/s3server.js';
import { benchContent } from './content.js';
import { mountCeiling, mountHoard, mountRclone, mountS3fs, type BenchMount, type S3Target } from './mounts.js';
import { dropPageCache, mibPerSec, readBig, readMany, type Pass } from './readers.js';
import { benchRing } from './ring.js';
import { workerReadFigures } from './worker-read.js';

const BIG = Number(process.env.HOARD_BENCH_BIG_MIB ?? 256) * 2 ** 20;
const SMALL_N = Number(process.env.HOARD_BENCH_SMALL_FILES ?? 2000);
const SMALL = Number(process.env.HOARD_BENCH_SMALL_KIB ?? 64) * 1024;

interface Row {
  system: string;
  pass: string;
  big?: Pass;
  small?: Pass;
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

async function seed(work: string, s3: S3Target): Promise<string> {
  const local = join(work, 'local');
  await mkdir(join(local, 'small'), { recursive: true });
  const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
  const put = async (key: string, size: number) => {
    const body = benchContent(key, size);
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
    await writeFile(join(local, key), body);
  };
  await put('big.bin', BIG);
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < SMALL_N) { const i = next++; await put(`small/f${i}.bin`, SMALL); }
  }));
  client.destroy();
  return local;
}

async function pass(m: { name: string; root: string }, name: string, drop: boolean): Promise<Row> {
  const big = join(m.root, 'big.bin');
  if (drop) await dropPageCache([big]);
  const b = await readBig(big);
  if (drop) await dropPageCache([]);
  const s = await readMany(join(m.root, 'small'));
  if (b.bytes !== BIG || s.bytes !== SMALL_N * SMALL) throw new Error(`${m.name} ${name}: read ${b.bytes}+${s.bytes} bytes, expected ${BIG}+${SMALL_N * SMALL}`);
  log(`${m.name.padEnd(12)} ${name.padEnd(22)} big ${mibPerSec(b).toFixed(0)} MiB/s, small ${s.seconds.toFixed(2)} s`);
  return { system: m.name, pass: name, big: b, small: s };
}

async function withMount(mount: Promise<BenchMount | undefined>, label: string, body: (m: BenchMount) => Promise<Row[]>): Promise<Row[]> {
  let m: BenchMount | undefined;
  try {
    m = await mount;
    if (!m) { log(`${label}: not installed, skipped (apt-get install ${label})`); return []; }
    return await body(m);
  } catch (err) {
    log(`${label}: failed: ${(err as Error).message}`);
    return [];
  } finally {
    await m?.stop();
  }
}

function table(rows: Row[]): string {
  const lines = ['| system | pass | big file MiB/s | big file s | small files MiB/s | small files s |', '|---|---|---:|---:|---:|---:|'];
  for (const r of rows) {
    lines.push(`| ${r.system} | ${r.pass} | ${r.big ? mibPerSec(r.big).toFixed(0) : '-'} | ${r.big ? r.big.seconds.toFixed(2) : '-'} | ${r.small ? mibPerSec(r.small).toFixed(0) : '-'} | ${r.small ? r.small.seconds.toFixed(2) : '-'} |`);
  }
  return lines.join('\n');
}

function ratios(rows: Row[]): string {
  const find = (system: string, p: string) => rows.find((r) => r.system === system && r.pass === p);
  const big = (system: string, p: string) => { const r = find(system, p); return r?.big ? mibPerSec(r.big) : undefined; };
  const smallSec = (system: string, p: string) => find(system, p)?.small?.seconds;
  const out: string[] = ['| target | measured | goal | met |', '|---|---:|---:|---|'];
  const add = (what: string, v: number | undefined, goal: number, higherIsBetter = true) => {
    if (v === undefined || !Number.isFinite(v)) { out.push(`| ${what} | n/a | ${goal} | - |`); return; }
    out.push(`| ${what} | ${v.toFixed(2)}x | ${higherIsBetter ? '>=' : '<='} ${goal}x | ${(higherIsBetter ? v >= goal : v <= goal) ? 'yes' : 'NO'} |`);
  };
  const hw = big('hoard', 'warm (cache dropped)');
  add('warm big read vs s3fs warm', hw && big('s3fs', 'warm (cache dropped)') && hw / big('s3fs', 'warm (cache dropped)')!, 1.0);
  add('warm big read vs rclone warm', hw && big('rclone', 'warm (cache dropped)') && hw / big('rclone', 'warm (cache dropped)')!, 3.0);
  add('warm big read vs fuse ceiling', hw && big('fuse ceiling', 'warm (cache dropped)') && hw / big('fuse ceiling', 'warm (cache dropped)')!, 0.8);
  const hp = big('hoard', 'warm (page cache)');
  const lp = big('local disk', 'warm (page cache)');
  add('warm re-read (page cache) vs local disk re-read', hp && lp && hp / lp, 0.8);
  const peers = ['s3fs', 'rclone'].map((s) => smallSec(s, 'warm (cache dropped)')).filter((v): v is number => v !== undefined);
  const hs = smallSec('hoard', 'warm (cache dropped)');
  add('warm small files speed-up vs faster peer', hs && peers.length ? Math.min(...peers) / hs : undefined, 5.0);
  const hc = big('hoard', 'cold');
  const sc = big('s3fs', 'cold');
  add('cold big read vs s3fs cold', hc && sc && hc / sc, 1.0);
  const hcs = smallSec('hoard', 'cold');
  const scs = smallSec('s3fs', 'cold');
  add('cold small files speed vs s3fs cold', hcs && scs && scs / hcs, 1.0);
  return out.join('\n');
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'hoard-bench-'));
  const server = await startS3Server({ buckets: ['bench'] });
  const s3: S3Target = { endpoint: server.endpoint, bucket: 'bench', accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey };
  const rows: Row[] = [];
  try {
    log(`seeding ${BIG / 2 ** 20} MiB + ${SMALL_N} x ${SMALL / 1024} KiB into a local S3 server and a local folder`);
    const local = await seed(work, s3);
    const localMount = { name: 'local disk', root: local };
    rows.push(await pass(localMount, 'cold (cache dropped)', true), await pass(localMount, 'warm (page cache)', false));
    rows.push(...(await withMount(mountHoard(work, s3), 'hoard', async (m) => [
      await pass(m, 'cold', true),
      await pass(m, 'warm (cache dropped)', true),
      await pass(m, 'warm (page cache)', false),
    ])));
    for (const [label, mount] of [['s3fs', () => mountS3fs(work, s3)], ['rclone', () => mountRclone(work, s3)]] as const) {
      rows.push(...(await withMount(mount(), label, async (m) => [await pass(m, 'cold', true), await pass(m, 'warm (cache dropped)', true)])));
    }
    rows.push(...(await withMount(mountCeiling(work, BIG, SMALL_N, SMALL), 'fuse ceiling', async (m) => [await pass(m, 'warm (cache dropped)', true)])));
  } finally {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  }
  console.log(`\n## FUSE read: ${BIG / 2 ** 20} MiB file, ${SMALL_N} x ${SMALL / 1024} KiB files\n`);
  console.log(table(rows));
  console.log('\n## Targets (ratios from the table above)\n');
  console.log(ratios(rows));
  log('worker-level figures: cached Read RPC throughput, ring balance and movement');
  const w = await workerReadFigures();
  const ring = benchRing();
  console.log('\n## Worker level\n');
  console.log('| figure | measured | goal | met |\n|---|---:|---:|---|');
  console.log(`| cached read, one client over loopback | ${w.mibPerSec.toFixed(0)} MiB/s | >= 1024 MiB/s | ${w.mibPerSec >= 1024 ? 'yes' : 'NO'} |`);
  console.log(`| keys moved adding an 11th worker | ${(ring.movedFraction * 100).toFixed(2)}% | <= ${((1.1 / 11) * 100).toFixed(2)}% | ${ring.movedFraction <= 1.1 / 11 ? 'yes' : 'NO'} |`);
  console.log(`| max/mean load over 10 workers | ${ring.maxOverMean.toFixed(3)} | <= 1.10 | ${ring.maxOverMean <= 1.1 ? 'yes' : 'NO'} |`);
}

main().catch((err) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
