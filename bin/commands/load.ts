import { Command } from 'commander';
import { createLogger } from '../../lib/log.js';
import { formatSize, parseSize } from '../../lib/units.js';
import { createClient } from '../../worker/client/index.js';
import type { LoadProgress } from '../../worker/client/types.js';
import { clientOptionsFromFlags, positiveIntFlag, type WorkerFlags } from './client-args.js';

interface LoadFlags extends WorkerFlags {
  concurrency?: string;
  bandwidth?: string;
  metadataOnly?: boolean;
  json?: boolean;
}

function bandwidthFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = parseSize(value.replace(/\/s$/, ''), '--bandwidth');
  if (n <= 0) throw new Error(`--bandwidth: "${value}" must be above zero, e.g. 200Mi/s`);
  return n;
}

function percent(p: LoadProgress): number {
  if (p.bytesTotal > 0) return (100 * p.bytesDone) / p.bytesTotal;
  return p.filesTotal > 0 ? (100 * p.filesDone) / p.filesTotal : p.done ? 100 : 0;
}

/** One line describing progress: files, bytes, percentage, rate. */
export function progressLine(p: LoadProgress, elapsedSec: number): string {
  const rate = elapsedSec > 0 ? p.bytesDone / elapsedSec : 0;
  const failed = p.failures > 0 ? `, ${p.failures} failed` : '';
  return `${percent(p).toFixed(1).padStart(5)}%  ${p.filesDone}/${p.filesTotal} files  ${formatSize(p.bytesDone)}/${formatSize(p.bytesTotal)}  ${formatSize(rate)}/s${failed}`;
}

function progressJson(event: string, p: LoadProgress, elapsedSec: number): string {
  const { filesDone, filesTotal, bytesDone, bytesTotal, failures, failedPaths, current } = p;
  return JSON.stringify({
    event,
    filesDone,
    filesTotal,
    bytesDone,
    bytesTotal,
    percent: Number(percent(p).toFixed(2)),
    bytesPerSec: elapsedSec > 0 ? Math.round(bytesDone / elapsedSec) : 0,
    failures,
    ...(event === 'done' ? { failedPaths, seconds: Number(elapsedSec.toFixed(3)) } : { current }),
  });
}

async function runLoad(paths: string[], flags: LoadFlags): Promise<void> {
  const logger = createLogger('load');
  const clientOpts = await clientOptionsFromFlags(flags);
  const concurrency = positiveIntFlag(flags.concurrency, '--concurrency');
  const bandwidthBytesPerSec = bandwidthFlag(flags.bandwidth);
  const tty = !flags.json && !!process.stdout.isTTY;
  const client = createClient({ ...clientOpts, logger });
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  const targets = paths.length > 0 ? paths : ['/'];
  let final: LoadProgress;
  try {
    final = await client.load(targets, { concurrency, bandwidthBytesPerSec, metadataOnly: !!flags.metadataOnly, signal: abort.signal }, (p) => {
      if (tty) process.stdout.write(`\r\x1b[K${progressLine(p, elapsed())}`);
      else if (!p.done) process.stdout.write(progressJson('progress', p, elapsed()) + '\n');
    });
  } finally {
    await client.close();
  }
  if (tty) {
    process.stdout.write(`\r\x1b[K${progressLine(final, elapsed())}\n`);
    for (const path of final.failedPaths) process.stdout.write(`failed: ${path}\n`);
  } else {
    process.stdout.write(progressJson('done', final, elapsed()) + '\n');
  }
  if (abort.signal.aborted) {
    process.stderr.write('hoard load: interrupted\n');
    process.exitCode = 130;
  } else if (final.failures > 0) {
    process.stderr.write(`hoard load: ${final.failures} path(s) failed to load\n`);
    process.exitCode = 1;
  }
}

export function loadCommand(): Command {
  return new Command('load')
    .description('Preload paths into the cache workers (what a DataLoad Job runs); exits non-zero if any path failed')
    .argument('[paths...]', 'namespace paths to load, files or directories (default /)')
    .option('--workers <list>', 'static worker list: id=host:port,id=host:port')
    .option('--workers-srv <name>', 'SRV name of the workers, e.g. _grpc._tcp.imagenet-worker.ml.svc.cluster.local')
    .option('--mounts-file <file>', 'the workers\' mount table (JSON)')
    .option('--concurrency <n>', 'files loaded in parallel')
    .option('--bandwidth <size/s>', 'cap on the total load rate, e.g. 200Mi/s')
    .option('--replication <n>', 'load every owner of each path (match the mount\'s replication)')
    .option('--metadata-only', 'only warm the workers\' metadata caches (stat/list), no file data')
    .option('--json', 'JSON lines even on a terminal (the default when stdout is not a terminal)')
    .addHelpText(
      'after',
      `
On a terminal: one updating progress line (percent, files, bytes, rate). Otherwise one JSON line per
progress event, {"event":"progress",...}, and a final {"event":"done",...} summary.
`,
    )
    .action(runLoad);
}
