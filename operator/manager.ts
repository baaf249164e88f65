import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { hostname } from 'node:os';
import { DEFAULT_HOST_PATH_ALLOW, hostPathPolicy } from '../lib/host-paths.js';
import { createLogger, type Logger } from '../lib/log.js';
import { MOUNT_POD_LABELS, MOUNT_POD_SELECTOR } from '../lib/mount-pod-labels.js';
import { GROUP, PLURALS, VERSION } from './api/types.js';
import type { BuildContext } from './builders/context.js';
import { DATALOAD_LABEL } from './builders/loader-job.js';
import { DataLoadController } from './controllers/dataload.js';
import { DatasetController } from './controllers/dataset.js';
import { createClients, type KubeClients } from './kube/clients.js';
import { describeError } from './kube/errors.js';
import { EventRecorder } from './runtime/events.js';
import { nsName, startWatch } from './runtime/informers.js';
import { LeaderElector } from './runtime/leader.js';
import { WorkQueue } from './runtime/queue.js';
import { GrpcStatsSource } from './stats/grpc-source.js';
import type { StatsSource } from './stats/source.js';
import { startWebhook, type RunningWebhook, type WebhookOptions } from './webhook/index.js';

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  ctx: BuildContext;
  stats?: StatsSource;
  /** Worker gRPC endpoints per "ns/name", for tests and out-of-cluster operators. */
  endpointOverrides?: Map<string, string[]>;
  concurrency?: number;
  statsIntervalMs?: number;
  ufsIntervalMs?: number;
  leaderElection?: { namespace: string; name: string; identity?: string; leaseDurationMs?: number } | false;
  /** Reconcile only these namespaces (watches are namespaced); undefined = the whole cluster. */
  namespaces?: string[];
  /**
   * Node folders (normalised prefixes, lib/host-paths.ts parseHostPathAllowList) Datasets' file://
   * mounts may name; default /srv. System and kubelet folders and cache tiers are refused anyway.
   */
  hostPathAllow?: string[];
  log?: Logger;
  /** Serve the mutating admission webhook (every replica serves; the leader keeps its certificate). */
  webhook?: Omit<WebhookOptions, 'kubeConfig' | 'isLeader' | 'log' | 'event'>;
}

export interface RunningOperator {
  isLeader(): boolean;
  webhook?: RunningWebhook;
  stop(): Promise<void>;
}

type Obj = KubernetesObject;

/** Wires watches -> work queues -> controllers, behind leader election. */
export function startOperator(o: OperatorOptions): RunningOperator {
  const log = o.log ?? createLogger('operator');
  const k: KubeClients = createClients(o.kubeConfig);
  const events = new EventRecorder(k, log);
  const stats = o.stats ?? new GrpcStatsSource({ overrides: o.endpointOverrides, clusterDomain: o.ctx.clusterDomain });
  const concurrency = o.concurrency ?? 8;
  const onError = (kind: string) => (key: string, err: unknown, retryInMs: number) =>
    log.warn({ kind, key, err: describeError(err), retryInMs }, 'reconcile failed; retrying');

  let datasetQueue: WorkQueue | undefined;
  let dataloadQueue: WorkQueue | undefined;
  const enqueueDataset = (key: string) => datasetQueue?.add(key);
  const enqueueDataload = (key: string) => dataloadQueue?.add(key);
  const datasets = new DatasetController({
    k, events, log, ctx: o.ctx, stats,
    statsIntervalMs: o.statsIntervalMs ?? 15_000,
    ufsIntervalMs: o.ufsIntervalMs ?? 300_000,
    enqueue: enqueueDataset,
    hostPaths: hostPathPolicy(o.hostPathAllow ?? DEFAULT_HOST_PATH_ALLOW, o.ctx.kubeletDir ? [o.ctx.kubeletDir] : []),
    namespaces: o.namespaces,
  });
  const dataloads = new DataLoadController({ k, events, log, ctx: o.ctx, stats, enqueue: enqueueDataload });

  let watches: { stop(): Promise<void> }[] = [];
  const startControllers = () => {
    datasetQueue = new WorkQueue((key) => datasets.reconcile(key), { concurrency }, onError('Dataset'));
    dataloadQueue = new WorkQueue((key) => dataloads.reconcile(key), { concurrency: Math.max(2, concurrency / 4) }, onError('DataLoad'));
    const workerSelector = 'app.kubernetes.io/name=hoard,app.kubernetes.io/component=worker';
    const volumeSelector = 'app.kubernetes.io/name=hoard,app.kubernetes.io/component=volume';
    const loaderSelector = 'app.kubernetes.io/name=hoard,app.kubernetes.io/component=loader';
    const instanceKey = (obj: Obj) => [`${obj.metadata?.namespace}/${obj.metadata?.labels?.['app.kubernetes.io/instance']}`];
    const loadKey = (j: Obj) => (j.metadata?.labels?.[DATALOAD_LABEL] ? [`${j.metadata.namespace}/${j.metadata.labels[DATALOAD_LABEL]}`] : []);
    // One set of watches for the cluster, or one per namespace in scope (what namespaced RBAC allows).
    const scopes: (string | undefined)[] = o.namespaces && o.namespaces.length > 0 ? o.namespaces : [undefined];
    watches = scopes.flatMap((ns) => {
      const at = (group: string, plural: string) => `${group}${ns ? `/namespaces/${ns}` : ''}/${plural}`;
      const cr = (plural: string) => ({
        path: at(`/apis/${GROUP}/${VERSION}`, plural),
        list: () => (ns ? k.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural }) : k.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as never,
      });
      const scoped = (name: string) => (ns ? `${name}@${ns}` : name);
      return [
        startWatch<Obj>(k, { name: scoped('datasets'), ...cr(PLURALS.Dataset), keys: (d) => [nsName(d)], specOnly: true }, enqueueDataset, log),
        // A runtime's cache tier folders are off limits to every Dataset's file:// mounts.
        startWatch<Obj>(k, { name: scoped('cacheruntimes'), ...cr(PLURALS.CacheRuntime), keys: (d) => [nsName(d), ...datasets.hostPathKeys()], specOnly: true }, enqueueDataset, log),
        startWatch<Obj>(k, {
          name: scoped('statefulsets'), path: at('/apis/apps/v1', 'statefulsets'), labelSelector: workerSelector, keys: instanceKey,
          list: () => (ns ? k.apps.listNamespacedStatefulSet({ namespace: ns, labelSelector: workerSelector }) : k.apps.listStatefulSetForAllNamespaces({ labelSelector: workerSelector })),
        }, enqueueDataset, log),
        startWatch<Obj>(k, {
          name: scoped('pvcs'), path: at('/api/v1', 'persistentvolumeclaims'), labelSelector: volumeSelector, keys: instanceKey,
          list: () => (ns ? k.core.listNamespacedPersistentVolumeClaim({ namespace: ns, labelSelector: volumeSelector }) : k.core.listPersistentVolumeClaimForAllNamespaces({ labelSelector: volumeSelector })),
        }, enqueueDataset, log),
        startWatch<Obj>(k, { name: scoped('dataloads'), ...cr(PLURALS.DataLoad), keys: (d) => [nsName(d)], specOnly: true }, enqueueDataload, log),
        startWatch<Obj>(k, {
          name: scoped('jobs'), path: at('/apis/batch/v1', 'jobs'), labelSelector: loaderSelector, keys: loadKey,
          list: () => (ns ? k.batch.listNamespacedJob({ namespace: ns, labelSelector: loaderSelector }) : k.batch.listJobForAllNamespaces({ labelSelector: loaderSelector })),
        }, enqueueDataload, log),
      ];
    });
    // Mount pods of the CSI node plugin (its namespace): status.fuse follows their state. Only a
    // cluster-wide operator may watch them; a namespaced one reads them at each reconcile if allowed.
    if (scopes[0] === undefined) {
      watches.push(startWatch<Obj>(k, {
        name: 'mount-pods', path: '/api/v1/pods', labelSelector: MOUNT_POD_SELECTOR,
        list: () => k.core.listPodForAllNamespaces({ labelSelector: MOUNT_POD_SELECTOR }),
        keys: (p) => {
          const l = p.metadata?.labels ?? {};
          return l[MOUNT_POD_LABELS.datasetNamespace] && l[MOUNT_POD_LABELS.instance] ? [`${l[MOUNT_POD_LABELS.datasetNamespace]}/${l[MOUNT_POD_LABELS.instance]}`] : [];
        },
      }, enqueueDataset, log));
    }
    log.info({ concurrency, namespaces: o.namespaces ?? 'all', hostPathAllow: o.hostPathAllow ?? DEFAULT_HOST_PATH_ALLOW }, 'controllers started');
  };
  const stopControllers = async () => {
    datasetQueue?.stop();
    dataloadQueue?.stop();
    datasetQueue = dataloadQueue = undefined;
    await Promise.all(watches.map((w) => w.stop().catch(() => undefined)));
    watches = [];
  };

  let elector: LeaderElector | undefined;
  if (o.leaderElection === false || o.leaderElection === undefined) {
    startControllers();
  } else {
    const le = o.leaderElection;
    const duration = le.leaseDurationMs ?? 15_000;
    elector = new LeaderElector(
      k,
      { namespace: le.namespace, name: le.name, identity: le.identity ?? `${hostname()}-${process.pid}`, leaseDurationMs: duration, renewIntervalMs: Math.floor(duration / 3), retryIntervalMs: Math.max(500, Math.floor(duration / 5)) },
      log,
      { onStartedLeading: startControllers, onStoppedLeading: () => void stopControllers() },
    );
    elector.start();
  }

  const webhook = o.webhook
    ? startWebhook({
        ...o.webhook,
        kubeConfig: o.kubeConfig,
        isLeader: () => (elector ? elector.isLeader : true),
        log: log.child({ component: 'webhook' }),
        event: (secret, type, reason, message) => events.record(secret as never, type, reason, message),
      })
    : undefined;

  return {
    isLeader: () => (elector ? elector.isLeader : true),
    webhook,
    async stop() {
      await webhook?.stop();
      await elector?.stop();
      await stopControllers();
      await stats.close();
    },
  };
}
