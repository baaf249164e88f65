import { Command, Option } from 'commander';
import { createLogger } from '../../lib/log.js';
import { DEFAULT_TIER, workerConfigFromFlags, type WorkerFlags } from '../../worker/server/config.js';
import { startWorker } from '../../worker/server/worker.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function workerCommand(): Command {
  return new Command('worker')
    .description('Run a cache worker: serves Stat/List/Read/Load/Stats over gRPC, /metrics /healthz /readyz over HTTP')
    .requiredOption('--id <name>', 'stable worker name; its place on the hash ring (the pod hostname in a cluster)')
    .requiredOption('--listen <host:port>', 'gRPC address (port 0 = any free port)')
    .requiredOption('--http <host:port>', 'HTTP address for metrics and probes (port 0 = any free port)')
    .option('--mounts-file <file>', 'mount table, JSON or YAML: {"mounts":[{"name":"train","uri":"s3://b/p"}]}')
    .option('--ufs <uri...>', 'mounts as [name=]uri (instead of --mounts-file), e.g. train=s3://bucket/train?endpoint=http://h:9000', collect, [])
    .option('--tier <spec>', `cache tier, repeatable, top first: MEM:512Mi, MEM:/dev/shm/dir:512Mi (page files on tmpfs that clients on this host read directly) or SSD:/dir:10Gi[:high:low] (default ${DEFAULT_TIER})`, collect, [])
    .option('--short-circuit-dir <dir>', 'where clients on this host see the MEM tier\'s RAM-disk directory, when not at the worker\'s own path (a pod\'s emptyDir as the node sees it)')
    .option('--page-size <size>', 'cache page size', '1Mi')
    .addOption(new Option('--eviction <policy>', 'eviction policy').choices(['lru', 'lfu']).default('lru'))
    .option('--meta-ttl <duration>', 'how long stat/list answers are cached: a changed file is seen after at most this long', '5m')
    .option('--store-timeout <duration>', 'deadline of each under-storage call (a read: until it starts, then between chunks); a store that misses it fails that read with an error naming the store, while cached pages keep serving', '8s')
    .option('--ufs-read-ahead <size>', 'a sequential reader\'s cache miss fetches this far ahead in one ranged read (0 = only what was asked)', '16Mi')
    .option('--load-concurrency <n>', 'files loaded at once by a Load call that does not say', '8')
    .action(async (flags: WorkerFlags) => {
      const cfg = await workerConfigFromFlags(flags);
      const logger = createLogger('worker').child({ worker: cfg.id });
      // A promise some request left behind (a read nobody waits for any more) must not end the
      // worker, as Node's default would: log it as the bug it is and keep serving. Requests
      // themselves are guarded where they enter (service.ts, data-session.ts).
      process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection (a bug); the worker keeps serving'));
      const worker = await startWorker(cfg, logger);
      process.stdout.write(`${JSON.stringify({ event: 'listening', id: worker.id, grpc: worker.grpc, http: worker.http })}\n`);
      logger.info({ grpc: worker.grpc, http: worker.http, tiers: cfg.tiers, pageSize: cfg.pageSize, mounts: cfg.mounts.mounts.map((m) => m.name) }, 'worker listening');
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) {
          logger.warn({ signal }, 'second signal: exiting now');
          process.exit(1);
        }
        stopping = true;
        logger.info({ signal }, 'shutting down');
        worker.close().then(
          () => {
            logger.info('stopped');
            process.exit(0);
          },
          (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
