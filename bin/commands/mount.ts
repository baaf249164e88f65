import { Command } from 'commander';
import { createLogger } from '../../lib/log.js';
import { mountHoardFs } from '../../csi/fuse/mount.js';
import { DEFAULT_READ_AHEAD_KB } from '../../csi/fuse/read-ahead.js';
import { createClient } from '../../worker/client/index.js';
import { clientOptionsFromFlags, type WorkerFlags } from './client-args.js';
import { checkMountsOrStop } from './mount-check.js';

interface MountFlags extends WorkerFlags {
  readOnly?: boolean;
  kernelCache?: boolean;
  attrTimeout?: string;
  entryTimeout?: string;
  directIo?: boolean;
  allowOther?: boolean;
  readAheadKb?: string;
  shortCircuit?: boolean;
  allowUnready?: boolean;
}

function secondsFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${flag}: "${value}" must be a number of seconds >= 0, e.g. 1 or 0.5`);
  return n;
}

function kbFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--read-ahead-kb: "${value}" must be a whole number of KiB >= 0, e.g. 1024 (0 keeps the kernel default)`);
  return n;
}

/** Serves the FUSE mount in this process until SIGINT/SIGTERM, then unmounts cleanly. */
async function runMount(dir: string, flags: MountFlags): Promise<void> {
  const logger = createLogger('fuse');
  const clientOpts = await clientOptionsFromFlags(flags);
  const fsOpts = {
    readOnly: !!flags.readOnly,
    kernelCache: !!flags.kernelCache,
    directIO: !!flags.directIo,
    allowOther: !!flags.allowOther,
    attrTimeoutSec: secondsFlag(flags.attrTimeout, '--attr-timeout'),
    entryTimeoutSec: secondsFlag(flags.entryTimeout, '--entry-timeout'),
    readAheadKb: kbFlag(flags.readAheadKb),
    logger,
  };
  // The kernel already trusts attributes and names this long, so the client's own metadata cache
  // (which answers the kernel's lookups and opens) may as well: a shorter TTL only adds round trips.
  const metaTtlMs = 1000 * Math.max(1, fsOpts.attrTimeoutSec ?? 1, fsOpts.entryTimeoutSec ?? 1);
  const client = createClient({ ...clientOpts, metaTtlMs, logger, shortCircuit: flags.shortCircuit !== false });
  let mount;
  try {
    // Through the workers, as every read will go: their answer is the one that matters.
    const say = (msg: string): void => void process.stderr.write(`hoard mount: ${msg}\n`);
    const table = clientOpts.mounts ?? { mounts: (await client.list('/')).map((e) => ({ name: e.name, uri: '' })) };
    // A listing of each mount's root: the client's stat of '/name' would come from the root
    // listing it just cached, which never reaches the store.
    const probe = { stat: (path: string) => client.list(path), list: (path: string) => client.list(path) };
    await checkMountsOrStop(table, probe, !!flags.allowUnready, say);
    mount = await mountHoardFs(dir, client, fsOpts);
  } catch (err) {
    await client.close();
    throw err;
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    // Ctrl-C reaches the whole process group, so `hoard up` may signal us a second time.
    if (stopping) return;
    stopping = true;
    logger.info({ signal, dir: mount.dir }, 'unmounting');
    mount
      .unmount()
      .then(() => client.close())
      .then(
        () => {
          process.stdout.write(JSON.stringify({ event: 'unmounted', dir: mount.dir }) + '\n');
          process.exit(0);
        },
        (err: unknown) => {
          logger.error({ err: err instanceof Error ? err.message : String(err) }, 'unmount failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.stdout.write(JSON.stringify({ event: 'mounted', dir: mount.dir, pid: process.pid }) + '\n');
}

export function mountCommand(): Command {
  return new Command('mount')
    .description('Serve a Hoard dataset as a read-only FUSE directory until SIGINT/SIGTERM (used by the CSI plugin and `hoard up`)')
    .argument('<dir>', 'mount point (created if missing; a dead mount left by a crash is cleaned first)')
    .option('--workers <list>', 'static worker list: id=host:port,id=host:port')
    .option('--workers-srv <name>', 'SRV name of the workers, e.g. _grpc._tcp.imagenet-worker.ml.svc.cluster.local')
    .option('--mounts-file <file>', 'the workers\' mount table (JSON); lets the client read the storage itself when no worker answers')
    .option('--read-only', 'also set the kernel ro flag (writes fail with EROFS either way)')
    .option('--kernel-cache', 'keep file pages in the kernel page cache across opens while mtime/size are unchanged')
    .option('--attr-timeout <sec>', 'seconds the kernel caches file attributes (default 1)')
    .option('--entry-timeout <sec>', 'seconds the kernel caches name lookups, including misses (default 1)')
    .option('--direct-io', 'bypass the kernel page cache: every read reaches Hoard')
    .option('--read-ahead-kb <kb>', 'kernel read-ahead of the mount in KiB (needs root; 0 keeps the kernel default of 128)', String(DEFAULT_READ_AHEAD_KB))
    .option('--replication <n>', 'workers that own each path; reads fail over between them (default 1)')
    .option('--no-short-circuit', 'always read through the workers, even pages a worker on this host keeps on a RAM disk')
    .option('--allow-unready', 'mount even when a mount\'s storage cannot be read at start (it stays unreadable until the storage answers); the CSI plugin mounts this way')
    .option('--allow-other', 'let other users (e.g. pods running as another uid) read the mount')
    .addHelpText('after', '\nPrints {"event":"mounted","dir":…} on stdout once the mount is ready.\n')
    .action(runMount);
}
