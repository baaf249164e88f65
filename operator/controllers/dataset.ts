import type { V1StatefulSet } from '@kubernetes/client-node';
import type { HostPathPolicy } from '../../lib/host-paths.js';
import type { Logger } from '../../lib/log.js';
import { datasetMountPodSelector } from '../../lib/mount-pod-labels.js';
import type { CacheRuntime, CacheRuntimeStatus, Condition, Dataset, DatasetStatus } from '../api/types.js';
import { FINALIZER } from '../api/types.js';
import { validateDatasetSpec, validateRuntimeSpec } from '../api/validate.js';
import type { BuildContext } from '../builders/context.js';
import { buildMountsConfigMap, configHash } from '../builders/mounts-configmap.js';
import { names, selectorLabels, selectorString } from '../builders/names.js';
import { buildCsiCredentialsSecret, buildPersistentVolume, buildPersistentVolumeClaim } from '../builders/volume.js';
import { buildWorkerService } from '../builders/worker-service.js';
import { buildWorkerStatefulSet } from '../builders/worker-statefulset.js';
import { apply, deleteIgnoringMissing } from '../kube/apply.js';
import type { KubeClients } from '../kube/clients.js';
import { CustomResources } from '../kube/custom.js';
import { describeError, isNotFound } from '../kube/errors.js';
import { accessors } from '../kube/resources.js';
import { changedConditions, getCondition, removeCondition, setCondition, type ConditionInput } from '../runtime/conditions.js';
import type { EventRecorder } from '../runtime/events.js';
import type { DatasetStats, StatsSource } from '../stats/source.js';
import { applyStats, statsMessage } from './dataset-status.js';
import { fuseStatus } from './fuse-status.js';
import { hasHostPathMounts, hostPathProblems, runtimeTierPaths, tierPathProblems } from './host-paths.js';
import { checkSecrets } from './secrets.js';
import { podsUsingClaim, reconcileVolume } from './volume.js';
import { applyStorageClass, liveSharedClaims, listSharedVolumes, removeStorageClass } from './sharing.js';
import { describeUnready, ringMembers, unreadyPods } from './worker-diagnosis.js';

export interface DatasetControllerOptions {
  k: KubeClients;
  events: EventRecorder;
  log: Logger;
  ctx: BuildContext;
  stats: StatsSource;
  /** How often worker stats are gathered for a Bound dataset. */
  statsIntervalMs: number;
  /** How often the UFS is walked for totals (more expensive). */
  ufsIntervalMs: number;
  /** Called when background stats arrive, to reconcile the key again. */
  enqueue: (key: string) => void;
  /** Which node paths file:// mounts may name (lib/host-paths.ts). */
  hostPaths: HostPathPolicy;
  /** The namespaces reconciled (undefined = all): where CacheRuntimes are listed when RBAC is namespaced. */
  namespaces?: string[];
}

interface StatsState {
  inFlight: boolean;
  lastAt: number;
  lastUfsAt: number;
  latest?: DatasetStats;
  latestAt?: Date;
  lastError?: string;
}

type Result = { requeueAfterMs?: number } | void;

/**
 * Dataset + CacheRuntime (same name) -> workers, mount table, PV/PVC; status and Events.
 * Level-based: every call reads the current state and converges, so a crash anywhere is safe.
 */
export class DatasetController {
  private readonly crs: CustomResources;
  private readonly res: ReturnType<typeof accessors>;
  private readonly statsState = new Map<string, StatsState>();
  /** Datasets with file:// mounts: a CacheRuntime's tier folders change what they may read. */
  private readonly hostPathDatasets = new Set<string>();

  constructor(private readonly o: DatasetControllerOptions) {
    this.crs = new CustomResources(o.k);
    this.res = accessors(o.k);
  }

  async reconcile(key: string): Promise<Result> {
    const [namespace, name] = key.split('/');
    let ds: Dataset;
    try {
      ds = await this.crs.get<Dataset>('Dataset', namespace, name);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      this.statsState.delete(key);
      this.hostPathDatasets.delete(key);
      return this.orphanRuntime(namespace, name);
    }
    if (ds.metadata.deletionTimestamp) return this.finalize(ds);
    if (!(ds.metadata.finalizers ?? []).includes(FINALIZER)) {
      ds.metadata.finalizers = [...(ds.metadata.finalizers ?? []), FINALIZER];
      ds = await this.crs.replace(ds);
    }

    const status: DatasetStatus = structuredClone(ds.status ?? {});
    const gen = ds.metadata.generation;
    const set = (c: ConditionInput) => (status.conditions = setCondition(status.conditions, c, gen));

    if (hasHostPathMounts(ds)) {
      this.hostPathDatasets.add(key);
      const refused = hostPathProblems(ds, this.o.hostPaths, await runtimeTierPaths(this.o.k, this.o.namespaces, namespace));
      if (refused.length > 0) return this.refuseHostPaths(ds, status, refused.join('; '));
    } else this.hostPathDatasets.delete(key);

    const problems = validateDatasetSpec(ds.spec);
    if (problems.length > 0) {
      status.phase = 'Failed';
      set({ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: problems.map((p) => p.message).join('; ') });
      return this.writeStatus(ds, status);
    }

    const rt = await this.getRuntime(namespace, name);
    if (!rt) {
      await this.deleteWorkers(namespace, name);
      status.phase = status.phase === 'Bound' || !status.phase || status.phase === 'Failed' ? 'Pending' : status.phase;
      status.workers = { desired: 0, ready: 0 };
      const message = `no CacheRuntime named "${name}" in namespace "${namespace}"; create one with the same name to start cache workers`;
      set({ type: 'RuntimeReady', status: 'False', reason: 'NoRuntime', message });
      set({ type: 'Ready', status: 'False', reason: 'NoRuntime', message });
      return this.writeStatus(ds, status);
    }
    const rtProblems = validateRuntimeSpec(rt.spec);
    if (rtProblems.length > 0) {
      const message = `CacheRuntime ${name}: ${rtProblems.map((p) => p.message).join('; ')}`;
      status.phase = status.phase === 'Bound' ? 'Bound' : 'Failed';
      set({ type: 'RuntimeReady', status: 'False', reason: 'InvalidRuntime', message });
      set({ type: 'Ready', status: 'False', reason: 'InvalidRuntime', message });
      await this.writeRuntimeStatus(rt, { phase: 'Failed', conditions: setCondition(rt.status?.conditions, { type: 'Ready', status: 'False', reason: 'InvalidSpec', message }, rt.metadata.generation) });
      return this.writeStatus(ds, status);
    }
    const tierRefusals = tierPathProblems(rt, this.o.hostPaths);
    if (tierRefusals.length > 0) return this.refuseHostPaths(ds, status, `CacheRuntime ${name}: ${tierRefusals.join('; ')}`, 'CachePathNotAllowed');
    set({ type: 'RuntimeReady', status: 'True', reason: 'RuntimeFound', message: `CacheRuntime ${name} configures the cache` });

    const secrets = await checkSecrets(this.o.k, ds);
    if (secrets.problems.length > 0) {
      const message = secrets.problems.map((p) => p.message).join('; ');
      set({ type: 'CredentialsReady', status: 'False', reason: secrets.problems[0].reason, message });
      set({ type: 'Ready', status: 'False', reason: secrets.problems[0].reason, message });
      if (status.phase !== 'Bound') status.phase = 'Pending';
      return this.writeStatus(ds, status, 10_000);
    }
    if (secrets.data.size > 0) set({ type: 'CredentialsReady', status: 'True', reason: 'SecretsFound', message: `Secrets ${[...secrets.data.keys()].join(', ')} hold the credentials` });
    else status.conditions = removeCondition(status.conditions, 'CredentialsReady');

    const { sts, requeueAfterMs: volumeRequeue } = await this.applyObjects(ds, rt, secrets.data, set);
    const desired = rt.spec.replicas ?? 1;
    const ready = Math.min(sts.status?.readyReplicas ?? 0, desired);
    status.workers = { desired, ready };
    status.pvc = names.pvc(name);
    status.pv = names.pv(namespace, name);
    await this.foldMountPods(namespace, name, status);
    await this.foldSharing(ds, status);
    const workersOk = desired > 0 && ready >= desired;
    const why = workersOk || desired === 0 ? '' : await this.whyNotReady(namespace, name, desired);
    set(workersOk
      ? { type: 'WorkersReady', status: 'True', reason: 'WorkersReady', message: `${ready}/${desired} workers ready` }
      : { type: 'WorkersReady', status: 'False', reason: desired === 0 ? 'ScaledToZero' : 'WorkersNotReady', message: desired === 0 ? 'spec.replicas of CacheRuntime is 0: no cache workers' : `${ready}/${desired} workers ready${why}` });
    const bound = ready > 0 && (workersOk || ds.status?.phase === 'Bound');
    status.phase = bound ? 'Bound' : 'Pending';
    const volume = getCondition(status.conditions, 'VolumeReady');
    if (bound && volume?.status !== 'False') {
      set({ type: 'Ready', status: 'True', reason: 'Bound', message: `PVC ${names.pvc(name)} serves the dataset from ${ready}/${desired} workers` });
    } else if (!bound) {
      set({ type: 'Ready', status: 'False', reason: 'WorkersNotReady', message: `waiting for cache workers: ${ready}/${desired} ready${why}` });
    }

    if (ready > 0) this.foldStats(key, { namespace, name, replicas: sts.status?.replicas ?? desired }, status, set);

    await this.writeRuntimeStatus(rt, {
      phase: workersOk ? 'Ready' : ready > 0 ? 'PartialReady' : 'Pending',
      observedGeneration: rt.metadata.generation,
      replicas: sts.status?.replicas ?? 0,
      selector: selectorString(selectorLabels(name, 'worker')),
      workers: { desired, ready },
      conditions: setCondition(rt.status?.conditions, workersOk
        ? { type: 'Ready', status: 'True', reason: 'WorkersReady', message: `${ready}/${desired} workers ready` }
        : { type: 'Ready', status: 'False', reason: 'WorkersNotReady', message: `${ready}/${desired} workers ready` }, rt.metadata.generation),
    });
    const requeue = bound && workersOk ? this.o.statsIntervalMs : 2_000;
    return this.writeStatus(ds, status, Math.min(requeue, volumeRequeue ?? requeue));
  }

  /** Keys of the Datasets with file:// mounts, reconciled again when any CacheRuntime changes. */
  hostPathKeys(): string[] {
    return [...this.hostPathDatasets];
  }

  /**
   * A file:// mount names a node path the admin does not allow: no workers (and so no hostPath
   * volume) exist for the Dataset, whatever ran before; it recovers on its own once the spec or
   * the operator's allow-list changes. The PV, if any, stays: the CSI node plugin applies the same
   * rule before it gives a mount pod a host path.
   */
  private async refuseHostPaths(ds: Dataset, status: DatasetStatus, message: string, reason: 'HostPathNotAllowed' | 'CachePathNotAllowed' = 'HostPathNotAllowed'): Promise<Result> {
    const { namespace, name } = ds.metadata;
    await this.deleteWorkers(namespace, name);
    this.statsState.delete(`${namespace}/${name}`);
    status.phase = 'Failed';
    status.workers = { desired: 0, ready: 0 };
    status.conditions = removeCondition(status.conditions, 'WorkersReady');
    status.conditions = setCondition(status.conditions, { type: 'Ready', status: 'False', reason, message }, ds.metadata.generation);
    const rt = await this.getRuntime(namespace, name);
    if (rt) {
      await this.writeRuntimeStatus(rt, {
        phase: 'Pending',
        replicas: 0,
        workers: { desired: rt.spec.replicas ?? 1, ready: 0 },
        conditions: setCondition(rt.status?.conditions, { type: 'Ready', status: 'False', reason, message: `Dataset ${name} runs no workers: ${message}` }, rt.metadata.generation),
      });
    }
    return this.writeStatus(ds, status);
  }

  /**
   * Host-path cache tiers outlive pods: before the workers go, each one removes its own folder
   * (Purge). A worker that cannot be reached leaves its folder; the Warning event names the node
   * and the path to remove by hand.
   */
  private async purgeHostTiers(ds: Dataset): Promise<void> {
    const { namespace, name } = ds.metadata;
    let sts: V1StatefulSet;
    try {
      sts = await this.o.k.apps.readNamespacedStatefulSet({ name: names.workers(name), namespace });
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    const hostDirs = (sts.spec?.template.spec?.volumes ?? []).filter((v) => v.name.startsWith('cache-') && v.hostPath).map((v) => v.hostPath!.path);
    if (hostDirs.length === 0 || !this.o.stats.purge) return;
    const list = await this.o.k.core.listNamespacedPod({ namespace, labelSelector: selectorString(selectorLabels(name, 'worker')) });
    const prefix = `${names.workers(name)}-`;
    const pods = list.items.filter((p) => p.status?.phase === 'Running');
    const results = await this.o.stats.purge(
      { namespace, name, replicas: sts.spec?.replicas ?? pods.length },
      pods.map((p) => ({ pod: p.metadata!.name!, ordinal: Number(p.metadata!.name!.slice(prefix.length)), podIP: p.status?.podIP })),
    );
    const failed = pods.filter((p) => results.get(p.metadata!.name!)?.error);
    const done = pods.length - failed.length;
    if (done > 0) await this.o.events.record(ds, 'Normal', 'CacheRemoved', `${done} worker(s) removed their cache folders under ${hostDirs.join(', ')} on their nodes`);
    for (const p of failed) {
      const folder = hostDirs.map((d) => `${d}/${namespace}_${p.metadata!.name}`).join(', ');
      await this.o.events.record(ds, 'Warning', 'CacheNotRemoved', `worker ${p.metadata!.name} did not remove its cache (${results.get(p.metadata!.name!)!.error}); remove ${folder} on node ${p.spec?.nodeName ?? '(unknown)'} by hand`);
    }
  }

  /** "; <pod>: <reason>" from the pods' status and the workers' own readiness reasons, or "". */
  private async whyNotReady(namespace: string, name: string, desired: number): Promise<string> {
    const list = await this.o.k.core.listNamespacedPod({ namespace, labelSelector: selectorString(selectorLabels(name, 'worker')) });
    const pods = unreadyPods(list.items);
    if (pods.length === 0) return '';
    const prefix = `${names.workers(name)}-`;
    const running = pods.filter((p) => p.status?.phase === 'Running').slice(0, 3);
    const reasons = (await this.o.stats.readyReasons?.(
      { namespace, name, replicas: desired },
      running.map((p) => ({ pod: p.metadata!.name!, ordinal: Number(p.metadata!.name!.slice(prefix.length)), podIP: p.status?.podIP })),
    ).catch(() => undefined)) ?? new Map<string, string>();
    return `; ${describeUnready(pods, reasons)}`;
  }

  /** status.fuse from the Dataset's mount pods (any namespace: they live in the CSI plugin's); kept as is when the list fails. */
  private async foldMountPods(namespace: string, name: string, status: DatasetStatus): Promise<void> {
    try {
      const pods = await this.o.k.core.listPodForAllNamespaces({ labelSelector: datasetMountPodSelector(namespace, name) });
      const fuse = fuseStatus(pods.items);
      if (fuse.length > 0) status.fuse = fuse;
      else delete status.fuse;
    } catch (e) {
      this.o.log.debug({ dataset: `${namespace}/${name}`, err: describeError(e) }, 'cannot list mount pods (namespaced RBAC?); status.fuse left as it was');
    }
  }

  private async getRuntime(namespace: string, name: string): Promise<CacheRuntime | undefined> {
    try {
      return await this.crs.get<CacheRuntime>('CacheRuntime', namespace, name);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** Desired objects, applied in dependency order; the StatefulSet is returned for its status. */
  private async applyObjects(ds: Dataset, rt: CacheRuntime, secretData: Map<string, Record<string, string>>, set: (c: ConditionInput) => void): Promise<{ sts: V1StatefulSet; requeueAfterMs?: number }> {
    const { ctx, events } = this.o;
    const cm = buildMountsConfigMap(ds);
    await apply(this.res.configMap(cm), cm);
    const csiSecret = buildCsiCredentialsSecret(ds, secretData);
    if (csiSecret) await apply(this.res.secret(csiSecret), csiSecret);
    const svc = buildWorkerService(rt);
    await apply(this.res.service(svc), svc);
    const desiredSts = buildWorkerStatefulSet(ds, rt, ctx, configHash(cm));
    const sts = await apply(this.res.statefulSet(desiredSts), desiredSts);
    if (sts.action === 'created') await events.record(ds, 'Normal', 'WorkersCreated', `created StatefulSet ${desiredSts.metadata!.name} with ${desiredSts.spec!.replicas} workers`);
    if (sts.action === 'updated') await events.record(ds, 'Normal', 'WorkersUpdated', `updated StatefulSet ${desiredSts.metadata!.name} in place (replicas ${desiredSts.spec!.replicas})`);
    const volume = await reconcileVolume(this.o, ds, buildPersistentVolume(ds, rt, ctx), buildPersistentVolumeClaim(ds));
    set(volume.condition);
    return { sts: sts.object, requeueAfterMs: volume.requeueAfterMs };
  }

  /** Starts a background stats collection when due and folds the latest result into `status`. */
  private foldStats(key: string, ref: { namespace: string; name: string; replicas: number }, status: DatasetStatus, set: (c: ConditionInput) => void): void {
    const st = this.statsState.get(key) ?? { inFlight: false, lastAt: 0, lastUfsAt: 0 };
    this.statsState.set(key, st);
    const now = Date.now();
    if (!st.inFlight && now - st.lastAt >= this.o.statsIntervalMs) {
      st.inFlight = true;
      st.lastAt = now;
      const withUfs = now - st.lastUfsAt >= this.o.ufsIntervalMs;
      this.ringOf(ref.namespace, ref.name)
        .then((ring) => this.o.stats.collect({ ...ref, ring }, { withUfs }))
        .then((r) => {
          if (r.workers.length > 0 || r.ufs) {
            st.latest = r;
            st.latestAt = new Date();
            if (r.ufs) st.lastUfsAt = Date.now();
          }
          st.lastError = r.workers.length === 0 ? r.unreachable.map((u) => u.error).join('; ') || 'no workers answered' : r.unreachable.length > 0 ? `${r.unreachable.length} worker(s) unreachable: ${r.unreachable.map((u) => u.error).join('; ')}` : undefined;
        })
        .catch((e: unknown) => (st.lastError = (e as Error).message))
        .finally(() => {
          st.inFlight = false;
          this.o.enqueue(key);
        });
    }
    const { unweighed } = st.latest && st.latestAt ? applyStats(status, st.latest, st.latestAt) : { unweighed: [] };
    if (st.lastError && (!st.latest || st.latest.workers.length === 0 || st.lastError.includes('unreachable'))) {
      const kept = status.statsTime ? `; keeping the values gathered at ${status.statsTime}` : '';
      set({ type: 'StatsAvailable', status: 'False', reason: 'WorkersUnreachable', message: `could not read worker stats: ${st.lastError}${kept}` });
    } else if (st.latest) {
      set({ type: 'StatsAvailable', status: 'True', reason: 'StatsCollected', message: statsMessage(st.latest, unweighed) });
    }
  }

  /** The ring the clients use (the ready worker pods, as the SRV records list them); undefined when none can be listed. */
  private async ringOf(namespace: string, name: string): Promise<string[] | undefined> {
    try {
      const list = await this.o.k.core.listNamespacedPod({ namespace, labelSelector: selectorString(selectorLabels(name, 'worker')) });
      const ring = ringMembers(list.items);
      return ring.length > 0 ? ring : undefined;
    } catch (e) {
      this.o.log.debug({ dataset: `${namespace}/${name}`, err: describeError(e) }, 'cannot list worker pods; cached bytes will include stale copies');
      return undefined;
    }
  }

  private async writeStatus(ds: Dataset, status: DatasetStatus, requeueAfterMs?: number): Promise<Result> {
    status.observedGeneration = ds.metadata.generation;
    const before = ds.status ?? {};
    if (JSON.stringify(before) !== JSON.stringify(status)) {
      await this.crs.replaceStatus({ ...ds, status });
      await this.recordTransitions(ds, before, status);
    }
    return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
  }

  private async recordTransitions(ds: Dataset, before: DatasetStatus, after: DatasetStatus): Promise<void> {
    const { events } = this.o;
    if (before.phase !== after.phase && after.phase) {
      const ready = getCondition(after.conditions, 'Ready');
      const type = after.phase === 'Failed' || after.phase === 'Terminating' ? 'Warning' : 'Normal';
      // A failure's Event carries its cause as reason (InvalidSpec, HostPathNotAllowed, ...), so
      // `kubectl get events --field-selector reason=...` finds it.
      const reason = after.phase === 'Failed' && ready?.status === 'False' ? ready.reason : `Phase${after.phase}`;
      await events.record(ds, type, reason, `phase ${before.phase ?? '(none)'} -> ${after.phase}${ready ? `: ${ready.message}` : ''}`);
    }
    for (const c of changedConditions(before.conditions, after.conditions)) {
      if (c.type === 'Ready') continue; // told by the phase event
      await events.record(ds, c.status === 'True' ? 'Normal' : 'Warning', c.reason, c.message);
    }
  }

  private async writeRuntimeStatus(rt: CacheRuntime, status: CacheRuntimeStatus): Promise<void> {
    const next = { ...(rt.status ?? {}), ...status };
    if (JSON.stringify(rt.status ?? {}) === JSON.stringify(next)) return;
    await this.crs.replaceStatus({ ...rt, status: next });
  }

  /** A CacheRuntime whose Dataset is missing: say so on the runtime, run no workers. */
  private async orphanRuntime(namespace: string, name: string): Promise<Result> {
    const rt = await this.getRuntime(namespace, name);
    if (!rt) return;
    await this.deleteWorkers(namespace, name);
    const message = `no Dataset named "${name}" in namespace "${namespace}"; a CacheRuntime caches the Dataset with its own name`;
    await this.writeRuntimeStatus(rt, {
      phase: 'Pending',
      workers: { desired: rt.spec.replicas ?? 1, ready: 0 },
      replicas: 0,
      selector: selectorString(selectorLabels(name, 'worker')),
      conditions: setCondition(rt.status?.conditions, { type: 'Ready', status: 'False', reason: 'NoDataset', message }, rt.metadata.generation),
    });
  }

  private async deleteWorkers(namespace: string, name: string): Promise<void> {
    const { apps, core } = this.o.k;
    await deleteIgnoringMissing(() => apps.deleteNamespacedStatefulSet({ name: names.workers(name), namespace }));
    await deleteIgnoringMissing(() => core.deleteNamespacedService({ name: names.service(name), namespace }));
  }

  /** The StorageClass while spec.sharing asks for one, and the volumes provisioned from it. */
  private async foldSharing(ds: Dataset, status: DatasetStatus): Promise<void> {
    const storageClass = await applyStorageClass(this.o.k, this.o.events, ds);
    if (storageClass) status.storageClass = storageClass;
    else delete status.storageClass;
    // Listing PVs is cluster-wide: only for Datasets that share or did.
    const volumes = storageClass || (ds.status?.sharedVolumes ?? []).length > 0 ? await listSharedVolumes(this.o.k, ds) : [];
    if (volumes.length > 0) status.sharedVolumes = volumes;
    else delete status.sharedVolumes;
  }

  /**
   * Deletion: the StorageClass goes first (no new shared claims); then it is held while any pod
   * uses the PVC or any other namespace's claim holds a shared volume; then everything is removed
   * and the finalizer dropped.
   */
  private async finalize(ds: Dataset): Promise<Result> {
    const { namespace, name } = ds.metadata;
    if (!(ds.metadata.finalizers ?? []).includes(FINALIZER)) return;
    const { core, apps } = this.o.k;
    await removeStorageClass(this.o.k, this.o.events, ds);
    const shared = await listSharedVolumes(this.o.k, ds);
    const claims = await liveSharedClaims(this.o.k, shared);
    if (claims.length > 0) {
      const status: DatasetStatus = structuredClone(ds.status ?? {});
      status.phase = 'Terminating';
      delete status.storageClass;
      status.sharedVolumes = shared;
      status.conditions = setCondition(status.conditions, {
        type: 'Terminating',
        status: 'True',
        reason: 'SharedVolumesInUse',
        message: `deletion waits: PVC(s) ${claims.sort().join(', ')} hold volumes shared from this Dataset; delete them to finish`,
      }, ds.metadata.generation);
      return this.writeStatus(ds, status, 3_000);
    }
    const pods = await core.listNamespacedPod({ namespace });
    const users = podsUsingClaim(pods.items, names.pvc(name));
    if (users.length > 0) {
      const status: DatasetStatus = structuredClone(ds.status ?? {});
      status.phase = 'Terminating';
      status.conditions = setCondition(status.conditions, {
        type: 'Terminating',
        status: 'True',
        reason: 'PVCInUse',
        message: `deletion waits: PVC ${names.pvc(name)} is used by pod(s) ${users.join(', ')}; delete them to finish`,
      }, ds.metadata.generation);
      return this.writeStatus(ds, status, 3_000);
    }
    await deleteIgnoringMissing(() => core.deleteNamespacedPersistentVolumeClaim({ name: names.pvc(name), namespace }));
    await deleteIgnoringMissing(() => core.deletePersistentVolume({ name: names.pv(namespace, name) }));
    await this.purgeHostTiers(ds);
    await deleteIgnoringMissing(() => apps.deleteNamespacedStatefulSet({ name: names.workers(name), namespace }));
    await deleteIgnoringMissing(() => core.deleteNamespacedService({ name: names.service(name), namespace }));
    await deleteIgnoringMissing(() => core.deleteNamespacedConfigMap({ name: names.mountsConfigMap(name), namespace }));
    await deleteIgnoringMissing(() => core.deleteNamespacedSecret({ name: names.csiSecret(name), namespace }));
    await this.o.events.record(ds, 'Normal', 'CleanedUp', `removed workers, PVC ${names.pvc(name)} and PV ${names.pv(namespace, name)}`);
    ds.metadata.finalizers = (ds.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
    try {
      await this.crs.replace(ds);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    this.statsState.delete(`${namespace}/${name}`);
  }
}

export type { Condition };
