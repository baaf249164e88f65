// `npm run bench`: one run, side by side, on the same bytes. Hoard through FUSE (cold, warm with
// the page cache dropped, warm re-read as a user sees it) against local disk, s3fs and rclone
// mounts of the same bucket, and the ceiling of the fuse-native stack; then the worker-level
// figures. Prints a table of MiB/s, seconds, the S3 requests each pass made, and the target
// ratios. Progress goes to stderr, tables to stdout.
//
// Sizes: HOARD_BENCH_BIG_MIB (256), HOARD_BENCH_SMALL_FILES (2000), HOARD_BENCH_SMALL_KIB (64).
// HOARD_BENCH_SYSTEMS: comma list of local,hoard,connector,s3fs,rclone,ceiling,soak (default all);
// soak: the mount's peak RSS under a soak against its memory budget (mount-memory.ts).
// HOARD_BENCH_KEEP=1 keeps the work dir (mount logs under <work>/logs) after the run.
// HOARD_BENCH_S3_TRACE=1 also logs every S3 request to <work>/logs/s3-requests.log (implies KEEP).
import { execFile } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';
import { benchContent } from './content.js';
import { cleanupAll, cleanupAllSync, logTail, mountCeiling, mountHoard, mountRclone, mountS3fs, type BenchMount, type S3Target } from './mounts.js';
import { dropPageCache, mibPerSec, readBig, readMany, type Pass } from './readers.js';
import { mountMemorySoak, type SoakFigures } from './mount-memory.js';
import { benchRing } from './ring.js';
import { benchStatsRing } from './stats-ring.js';
import { diffCounts, startCountingS3, totalRequests, type CountingS3, type S3Counts } from './s3.js';
import { workerReadFigures } from './worker-read.js';

const BIG = Number(process.env.HOARD_BENCH_BIG_MIB ?? 256) * 2 ** 20;
const SMALL_N = Number(process.env.HOARD_BENCH_SMALL_FILES ?? 2000);
const SMALL = Number(process.env.HOARD_BENCH_SMALL_KIB ?? 64) * 1024;

const SYSTEMS = ['local', 'hoard', 'connector', 's3fs', 'rclone', 'ceiling', 'soak'] as const;
const CONNECTOR = 'hoard S3 connector alone';
type System = (typeof SYSTEMS)[number];

function selectedSystems(): Set<System> {
  const raw = process.env.HOARD_BENCH_SYSTEMS?.trim();
  if (!raw) return new Set(SYSTEMS);
  const out = new Set<System>();
  for (const s of raw.split(',').map((v) => v.trim()).filter(Boolean)) {
    if (!(SYSTEMS as readonly string[]).includes(s)) throw new Error(`HOARD_BENCH_SYSTEMS: unknown system "${s}" (known: ${SYSTEMS.join(',')})`);
    out.add(s as System);
  }
  return out;
}

const COLD = 'cold';
const DROPPED = 'warm (cache dropped)';
const PAGE = 'warm (page cache)';
type PassKind = typeof COLD | typeof DROPPED | typeof PAGE;

interface Row {
  system: string;
  pass: string;
  big?: Pass;
  small?: Pass;
  /** S3 requests since the previous row of the same system (the first row includes mounting). */
  s3?: S3Counts;
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

// With HOARD_BENCH_S3_TRACE=1: the S3 request log, with a marker line before each step.
let traceFile: string | undefined;
const mark = async (what: string) => {
  if (traceFile) await appendFile(traceFile, `===== ${what}\n`);
};

let interrupted = false;
class Interrupted extends Error {}
const checkInterrupted = () => {
  if (interrupted) throw new Interrupted('interrupted');
};

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

function checkBytes(what: string, b: Pass, s: Pass): void {
  if (b.bytes !== BIG || s.bytes !== SMALL_N * SMALL) throw new Error(`${what}: read ${b.bytes}+${s.bytes} bytes, expected ${BIG}+${SMALL_N * SMALL}`);
}

/**
 * One pass over the big file then the small files.
 * cold / warm (cache dropped): the kernel page cache (and dentries/inodes) is dropped before each
 * of the two reads, so every byte goes through the file system.
 * warm (page cache): a re-read as a user sees it. Everything is read once untimed (the prime),
 * with no drop afterwards, then read again timed; whatever the file system lets the kernel keep
 * is served from the page cache.
 */
async function pass(m: { name: string; root: string }, kind: PassKind, label: string = kind): Promise<Row> {
  const big = join(m.root, 'big.bin');
  const small = join(m.root, 'small');
  let b: Pass;
  let s: Pass;
  if (kind === PAGE) {
    checkBytes(`${m.name} ${label} (prime)`, await readBig(big), await readMany(small));
    checkInterrupted();
    // A page-cache re-read of 256 MiB takes well under 0.1 s, where one scheduler hiccup is a
    // big share: time eight re-reads back to back as one pass (every system alike), and the
    // small files as the median of three.
    b = total(await repeat(8, BIG, `${m.name} ${label} big`, () => readBig(big)));
    s = median(await repeat(3, SMALL_N * SMALL, `${m.name} ${label} small`, () => readMany(small)));
  } else {
    await dropPageCache([big]);
    b = await readBig(big);
    checkInterrupted();
    await dropPageCache([]);
    s = await readMany(small);
    checkBytes(`${m.name} ${label}`, b, s);
  }
  return { system: m.name, pass: label, big: b, small: s };
}

/** Runs `run` n times; every run must read `expected` bytes. */
async function repeat(n: number, expected: number, what: string, run: () => Promise<Pass>): Promise<Pass[]> {
  const out: Pass[] = [];
  for (let i = 0; i < n; i++) {
    const p = await run();
    if (p.bytes !== expected) throw new Error(`${what}: read ${p.bytes} bytes, expected ${expected}`);
    out.push(p);
  }
  return out;
}

function total(passes: Pass[]): Pass {
  return passes.reduce((a, p) => ({ bytes: a.bytes + p.bytes, seconds: a.seconds + p.seconds }), { bytes: 0, seconds: 0 });
}

function median(passes: Pass[]): Pass {
  const sorted = passes.slice().sort((a, b) => a.seconds - b.seconds);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function fmtCounts(c: S3Counts | undefined): string {
  if (!c) return '-';
  return `${totalRequests(c)} (${c.get}/${c.head}/${c.list}/${c.put + c.other})`;
}

function progress(r: Row): void {
  const reqs = r.s3 ? `, S3 ${fmtCounts(r.s3)} req GET/HEAD/LIST/other, ${(r.s3.bytesOut / 2 ** 20).toFixed(1)} MiB` : '';
  log(`${r.system.padEnd(12)} ${r.pass.padEnd(22)} big ${mibPerSec(r.big!).toFixed(0)} MiB/s, small ${r.small!.seconds.toFixed(2)} s${reqs}`);
}

/** Mounts one system, runs its passes in order, pushes each row as it completes, always unmounts. */
async function runSystem(
  rows: Row[],
  s3: CountingS3,
  label: string,
  mount: () => Promise<BenchMount | undefined>,
  kinds: PassKind[],
): Promise<void> {
  checkInterrupted();
  let before = await s3.counts();
  let m: BenchMount | undefined;
  try {
    log(`${label}: mounting`);
    await mark(`${label} mount`);
    m = await mount();
    if (!m) {
      log(`${label}: not installed, skipped (apt-get install ${label})`);
      return;
    }
    for (const kind of kinds) {
      checkInterrupted();
      await mark(`${label} ${kind}`);
      const row = await pass(m, kind);
      const after = await s3.counts();
      row.s3 = diffCounts(after, before);
      before = after;
      rows.push(row);
      progress(row);
    }
  } catch (err) {
    if (err instanceof Interrupted || interrupted) throw new Interrupted('interrupted');
    log(`${label}: failed: ${(err as Error).message}`);
    // Mount failures carry their log tail already; a failure while reading gets it here.
    if (m) log(`${label}: last lines of ${m.logFile}:\n${await logTail(m.logFile)}`);
  } finally {
    await m?.stop();
    await mark(`${label} unmounted`);
  }
}

/** Hoard's S3 connector alone (connector-main.ts, a child process like a worker): the cold pass's under-storage bound. */
async function runConnector(rows: Row[], s3: CountingS3, target: S3Target): Promise<void> {
  checkInterrupted();
  const before = await s3.counts();
  const script = new URL('./connector-main.js', import.meta.url).pathname;
  const env = { ...process.env, HOARD_BENCH_S3_ENDPOINT: target.endpoint, HOARD_BENCH_S3_BUCKET: target.bucket, AWS_ACCESS_KEY_ID: target.accessKeyId, AWS_SECRET_ACCESS_KEY: target.secretAccessKey };
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [script], { env, timeout: 300_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${CONNECTOR}: ${err.message}\n${stderr}`)) : resolve(stdout))),
  );
  const { big, small } = JSON.parse(out.trim().split('\n').pop()!) as { big: Pass; small: Pass };
  checkBytes(CONNECTOR, big, small);
  const row: Row = { system: CONNECTOR, pass: COLD, big, small, s3: diffCounts(await s3.counts(), before) };
  rows.push(row);
  progress(row);
}

function table(rows: Row[]): string {
  const lines = [
    '| system | pass | big file MiB/s | big file s | small files MiB/s | small files s | S3 requests (GET/HEAD/LIST/other) | S3 MiB sent |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.system} | ${r.pass} | ${r.big ? mibPerSec(r.big).toFixed(0) : '-'} | ${r.big ? r.big.seconds.toFixed(2) : '-'} | ${r.small ? mibPerSec(r.small).toFixed(0) : '-'} | ${r.small ? r.small.seconds.toFixed(2) : '-'} | ${fmtCounts(r.s3)} | ${r.s3 ? (r.s3.bytesOut / 2 ** 20).toFixed(1) : '-'} |`,
    );
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
  const hw = big('hoard', DROPPED);
  add('warm big read vs s3fs warm', hw && big('s3fs', DROPPED) && hw / big('s3fs', DROPPED)!, 1.0);
  add('warm big read vs rclone warm', hw && big('rclone', DROPPED) && hw / big('rclone', DROPPED)!, 3.0);
  const cw = big('fuse ceiling', DROPPED);
  const rw = big('rclone', DROPPED);
  // Not a goal: what this FUSE stack itself reaches against rclone, the bound of the line above.
  if (cw && rw) out.push(`| (bound) fuse ceiling vs rclone warm | ${(cw / rw).toFixed(2)}x | - | - |`);
  add('warm big read vs fuse ceiling', hw && big('fuse ceiling', DROPPED) && hw / big('fuse ceiling', DROPPED)!, 0.8);
  const hp = big('hoard', PAGE);
  const lp = big('local disk', PAGE);
  add('warm re-read (page cache) vs local disk re-read', hp && lp && hp / lp, 0.8);
  const peers = ['s3fs', 'rclone'].map((s) => smallSec(s, DROPPED)).filter((v): v is number => v !== undefined);
  const hs = smallSec('hoard', DROPPED);
  add('warm small files speed-up vs faster peer', hs && peers.length ? Math.min(...peers) / hs : undefined, 5.0);
  const hc = big('hoard', COLD);
  const sc = big('s3fs', COLD);
  add('cold big read vs s3fs cold', hc && sc && hc / sc, 1.0);
  const uc = big(CONNECTOR, COLD);
  // Not a goal: the bound on the line above it. No cold Hoard pass can beat its own connector.
  if (uc && sc) out.push(`| (bound) ${CONNECTOR}, big file, vs s3fs cold | ${(uc / sc).toFixed(2)}x | - | - |`);
  const hcs = smallSec('hoard', COLD);
  const scs = smallSec('s3fs', COLD);
  add('cold small files speed vs s3fs cold', hcs && scs && scs / hcs, 1.0);
  return out.join('\n');
}

async function main(): Promise<void> {
  const systems = selectedSystems();
  const work = await mkdtemp(join(tmpdir(), 'hoard-bench-'));
  let server: CountingS3 | undefined;
  const traceS3 = process.env.HOARD_BENCH_S3_TRACE === '1';
  const keep = process.env.HOARD_BENCH_KEEP === '1' || traceS3;
  const cleanup = async () => {
    await cleanupAll();
    await server?.stop();
    if (!keep) await rm(work, { recursive: true, force: true });
  };
  let signalled = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) {
      log(`${sig} again: killing everything now`);
      process.exit(130);
    }
    signalled = true;
    interrupted = true;
    log(`${sig}: stopping mounts, workers and the S3 server`);
    const deadline = new Promise((r) => setTimeout(r, 20_000).unref());
    void Promise.race([cleanup().catch((err: unknown) => log(`cleanup: ${(err as Error).message}`)), deadline]).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);

  const rows: Row[] = [];
  let soak: SoakFigures | undefined;
  try {
    await mkdir(join(work, 'logs'), { recursive: true });
    traceFile = traceS3 ? join(work, 'logs', 's3-requests.log') : undefined;
    server = await startCountingS3(work, ['bench'], traceFile);
    const s3: S3Target = { endpoint: server.endpoint, bucket: 'bench', accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey };
    log(`seeding ${BIG / 2 ** 20} MiB + ${SMALL_N} x ${SMALL / 1024} KiB into a local S3 server and a local folder (${work})`);
    const local = await seed(work, s3);
    log(`systems: ${[...systems].join(', ')}`);
    if (systems.has('local')) {
      const localMount = { name: 'local disk', root: local };
      for (const [kind, label] of [[COLD, 'cold (cache dropped)'], [PAGE, PAGE]] as const) {
        checkInterrupted();
        const row = await pass(localMount, kind, label);
        rows.push(row);
        progress(row);
      }
    }
    if (systems.has('hoard')) await runSystem(rows, server, 'hoard', () => mountHoard(work, s3), [COLD, DROPPED, PAGE]);
    if (systems.has('connector')) await runConnector(rows, server, s3);
    if (systems.has('s3fs')) await runSystem(rows, server, 's3fs', () => mountS3fs(work, s3), [COLD, DROPPED, PAGE]);
    if (systems.has('rclone')) await runSystem(rows, server, 'rclone', () => mountRclone(work, s3), [COLD, DROPPED, PAGE]);
    if (systems.has('ceiling')) await runSystem(rows, server, 'fuse ceiling', () => mountCeiling(work, BIG, SMALL_N, SMALL), [DROPPED, PAGE]);
    if (systems.has('soak')) {
      checkInterrupted();
      soak = await mountMemorySoak(work, s3, log);
    }
  } catch (err) {
    // Whatever failed after a signal failed because of the cleanup; the signal handler exits.
    if (err instanceof Interrupted || interrupted) return new Promise(() => undefined);
    throw err;
  } finally {
    if (!interrupted) await cleanup();
  }
  if (keep) log(`work dir kept: ${work}`);
  console.log(`\n## FUSE read: ${BIG / 2 ** 20} MiB file, ${SMALL_N} x ${SMALL / 1024} KiB files\n`);
  console.log(table(rows));
  console.log(
    '\nS3 requests: what the system asked the S3 server for since its previous row (the first row of a system includes mounting, a page-cache row includes its untimed prime read); "other" includes PUTs. Small-file times include listing the folder.',
  );
  if (soak) {
    console.log(`\n## Mount memory (soak: 2 workers with ${soak.cacheMiB} MiB of cache for ${soak.dataMiB} MiB of data, 4 readers, ${soak.seconds} s, ${soak.filesRead} files / ${soak.mibRead.toFixed(0)} MiB read)\n`);
    console.log('| figure | measured | budget | met |\n|---|---:|---:|---|');
    console.log(`| hoard mount RSS, peak | ${soak.peakRssMiB.toFixed(0)} MiB | <= ${soak.budgetMiB.toFixed(0)} MiB | ${soak.peakRssMiB <= soak.budgetMiB ? 'yes' : 'NO'} |`);
    console.log(`| hoard mount RSS, first 10 s / at the end | ${soak.earlyRssMiB.toFixed(0)} / ${soak.endRssMiB.toFixed(0)} MiB | - | - |`);
  }
  console.log('\n## Targets (ratios from the table above)\n');
  console.log(ratios(rows));
  checkInterrupted();
  log('worker-level figures: cached Read RPC throughput, ring balance and movement');
  const w = await workerReadFigures();
  const ring = benchRing();
  const weigh = await benchStatsRing();
  console.log('\n## Worker level\n');
  console.log('| figure | measured | goal | met |\n|---|---:|---:|---|');
  // The client reads into recycled read-ahead pieces (readInto), so that is the figure to judge;
  // a fresh buffer per request and the gRPC Read are shown beside it for comparison.
  console.log(`| cached read, one client over loopback (data channel into reused buffers: the client's path) | ${w.intoMibPerSec.toFixed(0)} MiB/s | >= 1024 MiB/s | ${w.intoMibPerSec >= 1024 ? 'yes' : 'NO'} |`);
  console.log(`| same, a fresh buffer per request | ${w.mibPerSec.toFixed(0)} MiB/s | - | - |`);
  console.log(`| same, gRPC Read stream | ${w.grpcMibPerSec.toFixed(0)} MiB/s | - | - |`);
  console.log(`| keys moved adding an 11th worker | ${(ring.movedFraction * 100).toFixed(2)}% | <= ${((1.1 / 11) * 100).toFixed(2)}% | ${ring.movedFraction <= 1.1 / 11 ? 'yes' : 'NO'} |`);
  console.log(`| max/mean load over 10 workers | ${ring.maxOverMean.toFixed(3)} | <= 1.10 | ${ring.maxOverMean <= 1.1 ? 'yes' : 'NO'} |`);
  // The operator's Stats poll (every 15 s by default) makes each worker weigh its pages by the ring.
  console.log(`| Stats weighed by the ring (owned bytes), per 100,000 cached pages | ${weigh.msPer100kPages.toFixed(0)} ms | - | - |`);
  console.log(`| longest event-loop hold during that walk (${weigh.pages} pages; it yields every 4,096) | ${weigh.maxLoopDelayMs.toFixed(1)} ms | - | - |`);
}

// Last resort on any exit (crash, process.exit from the signal handler): nothing may outlive us.
process.on('exit', () => cleanupAllSync());

main().catch((err) => {
  if (interrupted) return; // the signal handler is cleaning up and exits
  process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
