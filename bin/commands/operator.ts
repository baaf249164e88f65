import { createHash } from 'node:crypto';
import { Command, Option } from 'commander';
import { DEFAULT_HOST_PATH_ALLOW, normaliseHostPath, parseHostPathAllowList } from '../../lib/host-paths.js';
import { createLogger } from '../../lib/log.js';
import { defaultBuildContext } from '../../operator/builders/context.js';
import { loadKubeConfig } from '../../operator/kube/clients.js';
import { startOperator } from '../../operator/manager.js';
import { parseEndpointOverride } from '../../operator/stats/endpoints.js';

function positiveMs(flag: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${flag}: "${v}" must be a number of milliseconds`);
    return n;
  };
}

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** `--namespaces a,b`: DNS labels, no repeats; the error names the flag and the bad entry. */
export function parseNamespaces(v: string): string[] {
  const list = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new Error('--namespaces: give at least one namespace, e.g. --namespaces team-a,team-b (omit the flag for all namespaces)');
  for (const ns of list) if (!LABEL.test(ns)) throw new Error(`--namespaces: "${ns}" is not a namespace name (lower-case letters, digits and '-', at most 63)`);
  if (new Set(list).size !== list.length) throw new Error(`--namespaces: "${v}" names a namespace twice`);
  return list;
}

/**
 * Operators with different scopes must not share a Lease (one would idle while its namespaces go
 * unreconciled); operators with the same scope must (one leader). So a scoped operator's Lease is
 * named after its sorted namespaces unless --lease-name says otherwise.
 */
export function leaseFor(namespaces: string[] | undefined, leaseNamespace?: string, leaseName?: string): { namespace: string; name: string } {
  const scope = namespaces && namespaces.length > 0 ? [...namespaces].sort() : undefined;
  const name = leaseName ?? (scope ? `hoard-operator-${createHash('sha256').update(scope.join(',')).digest('hex').slice(0, 10)}` : 'hoard-operator');
  return { namespace: leaseNamespace ?? process.env.POD_NAMESPACE ?? scope?.[0] ?? 'default', name };
}

/** The allow-list is parsed before --kubelet-dir is known; an entry inside that directory is refused here. */
function checkAllowAgainstKubeletDir(allow: string[], kubeletDir: string): string[] {
  return parseHostPathAllowList(allow, '--host-path-allow', [normaliseHostPath(kubeletDir, '--kubelet-dir')]);
}

function port(flag: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1 || n > 65535) throw new Error(`${flag}: "${v}" must be a TCP port from 1 to 65535, e.g. ${flag}=9443`);
    return n;
  };
}

/** `hoard operator`: the Dataset/CacheRuntime/DataLoad controllers, one leader among replicas. */
export function operatorCommand(): Command {
  return new Command('operator')
    .description('Run the Kubernetes operator: Dataset + CacheRuntime -> cache workers, PV/PVC; DataLoad -> loader Jobs')
    .option('--kubeconfig <file>', 'kubeconfig file (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)')
    .option('--image <image>', 'image for workers and loaders when a CacheRuntime names none', defaultBuildContext.image)
    .addOption(new Option('--image-pull-policy <policy>', 'pull policy for that image').choices(['Always', 'IfNotPresent', 'Never']))
    .option('--cluster-domain <domain>', 'cluster DNS domain for worker SRV names', 'cluster.local')
    .option('--kubelet-dir <dir>', 'the kubelet\'s root directory on nodes, as the CSI node plugin mounts it (workers name their RAM-disk tier by its path there)', '/var/lib/kubelet')
    .addOption(
      new Option('--host-path-allow <prefix,...>', 'node folders Datasets\' file:// mounts may name (comma-separated; "" allows none). /etc, /proc, /sys, /dev, /run, /var/run, /root, the kubelet directory and CacheRuntime cache tier folders are refused whatever this says')
        .env('HOARD_HOST_PATH_ALLOW')
        .default(DEFAULT_HOST_PATH_ALLOW, DEFAULT_HOST_PATH_ALLOW.join(','))
        .argParser((v: string) => parseHostPathAllowList(v, '--host-path-allow')),
    )
    .option('--concurrency <n>', 'datasets reconciled at once', (v) => Number(v), 8)
    .option('--stats-interval <ms>', 'how often worker stats are gathered per Bound dataset', positiveMs('--stats-interval'), 15_000)
    .option('--ufs-interval <ms>', 'how often the UFS is walked for total size and file count', positiveMs('--ufs-interval'), 300_000)
    .option('--leader-elect', 'use a Lease so only one replica reconciles (default on)', true)
    .option('--no-leader-elect', 'reconcile without leader election (single replica only)')
    .option('--namespaces <a,b>', 'reconcile only these namespaces (comma-separated; default: all, or $HOARD_NAMESPACES); each scope elects its own leader', parseNamespaces, process.env.HOARD_NAMESPACES ? parseNamespaces(process.env.HOARD_NAMESPACES) : undefined)
    .option('--lease-namespace <ns>', 'namespace of the leader Lease (default: $POD_NAMESPACE, else the first of --namespaces, else default)')
    .option('--lease-name <name>', 'name of the leader Lease (default: hoard-operator, or hoard-operator-<hash of --namespaces> when scoped)')
    .option('--lease-duration <ms>', 'how long a leader holds the Lease without renewing', positiveMs('--lease-duration'), 15_000)
    .option('--identity <id>', 'this replica\'s identity in the Lease (default: hostname-pid)')
    .option(
      '--worker-endpoint-override <ns/name=host:port,...>',
      'read stats of a dataset\'s workers from these gRPC endpoints instead of their cluster DNS names (tests, out-of-cluster runs); repeatable',
      (v: string, prev: Map<string, string[]>) => parseEndpointOverride(v, prev),
      new Map<string, string[]>(),
    )
    .option('--webhook-port <port>', 'serve the mutating admission webhook (adds mountPropagation: HostToContainer to Hoard volume mounts) over HTTPS on this port; off when not set', port('--webhook-port'))
    .option('--webhook-host <address>', 'address the webhook listens on', '0.0.0.0')
    .option('--webhook-namespace <ns>', 'namespace of the webhook Service and its certificate Secret', process.env.POD_NAMESPACE ?? 'default')
    .option('--webhook-service <name>', 'Service the API server calls; the serving certificate is issued for <name>.<namespace>.svc', 'hoard-webhook')
    .option('--webhook-secret <name>', 'Secret (kubernetes.io/tls) holding the webhook CA and serving certificate; created and renewed by the leader', 'hoard-webhook-tls')
    .option('--webhook-config <name>', 'MutatingWebhookConfiguration whose caBundle the leader keeps equal to the CA', 'hoard-webhook')
    .option('--webhook-cert-check-interval <ms>', 'how often the certificate is checked, renewed when due (leader) and reloaded (every replica)', positiveMs('--webhook-cert-check-interval'), 60_000)
    .action(async (opts) => {
      const hostPathAllow = checkAllowAgainstKubeletDir(opts.hostPathAllow, opts.kubeletDir);
      const log = createLogger('operator');
      const running = startOperator({
        kubeConfig: loadKubeConfig(opts.kubeconfig),
        ctx: { image: opts.image, imagePullPolicy: opts.imagePullPolicy, clusterDomain: opts.clusterDomain, kubeletDir: opts.kubeletDir },
        endpointOverrides: opts.workerEndpointOverride,
        concurrency: opts.concurrency,
        statsIntervalMs: opts.statsInterval,
        ufsIntervalMs: opts.ufsInterval,
        namespaces: opts.namespaces,
        hostPathAllow,
        leaderElection: opts.leaderElect ? { ...leaseFor(opts.namespaces, opts.leaseNamespace, opts.leaseName), identity: opts.identity, leaseDurationMs: opts.leaseDuration } : false,
        log,
        webhook: opts.webhookPort
          ? {
              port: opts.webhookPort,
              host: opts.webhookHost,
              namespace: opts.webhookNamespace,
              serviceName: opts.webhookService,
              secretName: opts.webhookSecret,
              configName: opts.webhookConfig,
              clusterDomain: opts.clusterDomain,
              certCheckIntervalMs: opts.webhookCertCheckInterval,
            }
          : undefined,
      });
      process.stdout.write(`${JSON.stringify({ event: 'started', pid: process.pid, leaderElection: Boolean(opts.leaderElect), webhookPort: opts.webhookPort ?? null })}\n`);
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          log.info({ signal }, 'stopping');
          running.stop().finally(resolve);
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
      });
    });
}
