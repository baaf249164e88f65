import type { V1Job } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import type { Dataset, DataLoad, DataLoadStatus, LoadProgressStatus } from '../api/types.js';
import { validateDataLoadSpec } from '../api/validate.js';
import type { BuildContext } from '../builders/context.js';
import { ServedApis } from '../kube/discovery.js';
import { buildLoaderCronJob, buildLoaderJob, DATALOAD_LABEL } from '../builders/loader-job.js';
import { names } from '../builders/names.js';
import { apply } from '../kube/apply.js';
import type { KubeClients } from '../kube/clients.js';
import { CustomResources } from '../kube/custom.js';
import { isConflict, isNotFound } from '../kube/errors.js';
import { accessors } from '../kube/resources.js';
import { removeCondition, setCondition, type ConditionInput } from '../runtime/conditions.js';
import type { EventRecorder } from '../runtime/events.js';
import type { StatsSource } from '../stats/source.js';
import { percent, progressFromPods } from './load-progress.js';

export interface DataLoadControllerOptions {
  k: KubeClients;
  events: EventRecorder;
  log: Logger;
  ctx: BuildContext;
  stats: StatsSource;
  enqueue: (key: string) => void;
}

type Result = { requeueAfterMs?: number } | void;
const iso = (d: Date | string) => new Date(d).toISOString().replace(/\.\d+Z$/, 'Z');
const finished = (p?: string) => p === 'Complete' || p === 'Failed';

/**
 * DataLoad -> Job (Once) or CronJob (Cron) running `hoard load`. One load per dataset at a time;
 * progress while running comes from the workers' cache growth, the final numbers from the
 * loader's summary (termination message); retries are the Job's backoffLimit.
 */
export class DataLoadController {
  private readonly crs: CustomResources;
  private readonly res: ReturnType<typeof accessors>;
  /** Worker bytes/files cached when a run started, to show growth as progress. */
  private readonly baselines = new Map<string, { bytes: number; files: number; job: string }>();

  private readonly served: ServedApis;

  constructor(private readonly o: DataLoadControllerOptions) {
    this.served = new ServedApis(o.k);
    this.crs = new CustomResources(o.k);
    this.res = accessors(o.k);
  }

  async reconcile(key: string): Promise<Result> {
    const [namespace, name] = key.split('/');
    let dl: DataLoad;
    try {
      dl = await this.crs.get<DataLoad>('DataLoad', namespace, name);
    } catch (e) {
      if (isNotFound(e)) return void this.baselines.delete(key);
      throw e;
    }
    if (dl.metadata.deletionTimestamp) return;
    const status: DataLoadStatus = structuredClone(dl.status ?? {});
    const gen = dl.metadata.generation;
    const set = (c: ConditionInput) => (status.conditions = setCondition(status.conditions, c, gen));
    const policy = dl.spec.policy ?? 'Once';

    const problems = validateDataLoadSpec(dl.spec);
    if (problems.length > 0) {
      status.phase = 'Failed';
      set({ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: problems.map((p) => p.message).join('; ') });
      return this.write(dl, status);
    }
    if (policy === 'Once' && finished(status.phase)) return this.expire(dl);

    if (policy === 'Cron' && !(await this.served.serves('batch', 'v1', 'cronjobs'))) {
      // Retrying cannot help until the cluster serves CronJobs: say so once, look again in a minute.
      status.phase = 'Failed';
      set({ type: 'Ready', status: 'False', reason: 'APINotServed', message: 'policy Cron needs batch/v1 CronJob, which this API server does not serve (Kubernetes 1.27 or later serves it); use policy Once, or enable batch/v1 cronjobs' });
      return this.write(dl, status, 60_000);
    }

    const dsName = dl.spec.dataset.name;
    const hasJob = await this.loaderExists(dl, policy);
    if (!hasJob) {
      const wait = await this.waitReason(dl, dsName);
      if (wait) {
        status.phase = 'Pending';
        set({ type: 'Waiting', status: 'True', reason: wait.reason, message: wait.message });
        return this.write(dl, status, 3_000);
      }
    }
    status.conditions = removeCondition(status.conditions, 'Waiting');

    if (policy === 'Once') {
      const desired = buildLoaderJob(dl, this.o.ctx);
      let job: V1Job;
      try {
        job = await this.o.k.batch.readNamespacedJob({ name: desired.metadata!.name!, namespace });
      } catch (e) {
        if (!isNotFound(e)) throw e;
        // A Job's pod template is immutable: created once, never updated.
        job = await this.o.k.batch.createNamespacedJob({ namespace, body: desired }).catch(async (err: unknown) => {
          if (isConflict(err)) return this.o.k.batch.readNamespacedJob({ name: desired.metadata!.name!, namespace });
          throw err;
        });
        await this.o.events.record(dl, 'Normal', 'JobCreated', `created Job ${desired.metadata!.name} to load ${(dl.spec.paths ?? ['/']).join(', ')} into ${dsName}`);
      }
      status.job = job.metadata!.name;
      await this.fromJob(dl, job, status, set);
    } else {
      const desired = buildLoaderCronJob(dl, this.o.ctx);
      const cj = await apply(this.res.cronJob(desired), desired);
      if (cj.action === 'created') await this.o.events.record(dl, 'Normal', 'CronJobCreated', `created CronJob ${desired.metadata!.name} (schedule "${dl.spec.schedule}")`);
      const last = cj.object.status?.lastScheduleTime;
      if (last) status.lastScheduleTime = iso(last);
      const jobs = (await this.o.k.batch.listNamespacedJob({ namespace, labelSelector: `${DATALOAD_LABEL}=${name}` })).items.sort(
        (a, b) => new Date(a.metadata!.creationTimestamp ?? 0).getTime() - new Date(b.metadata!.creationTimestamp ?? 0).getTime(),
      );
      const latest = jobs.at(-1);
      if (!latest) {
        status.phase = 'Pending';
        set({ type: 'Ready', status: 'False', reason: 'Scheduled', message: `waiting for the schedule "${dl.spec.schedule}"` });
      } else {
        status.job = latest.metadata!.name;
        await this.fromJob(dl, latest, status, set);
        if (status.phase === 'Complete' && status.completionTime) status.lastSuccessfulTime = status.completionTime;
      }
    }
    return this.write(dl, status, status.phase === 'Running' ? 2_000 : policy === 'Cron' ? 10_000 : undefined);
  }

  private async loaderExists(dl: DataLoad, policy: string): Promise<boolean> {
    const name = names.loader(dl.metadata.name);
    try {
      if (policy === 'Once') await this.o.k.batch.readNamespacedJob({ name, namespace: dl.metadata.namespace });
      else await this.o.k.batch.readNamespacedCronJob({ name, namespace: dl.metadata.namespace });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /** Why this load cannot start yet, or undefined. */
  private async waitReason(dl: DataLoad, dsName: string): Promise<{ reason: string; message: string } | undefined> {
    const { namespace } = dl.metadata;
    let ds: Dataset;
    try {
      ds = await this.crs.get<Dataset>('Dataset', namespace, dsName);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      return { reason: 'DatasetNotFound', message: `spec.dataset.name: Dataset "${dsName}" not found in namespace "${namespace}"` };
    }
    if (ds.status?.phase !== 'Bound') {
      return { reason: 'DatasetNotBound', message: `Dataset "${dsName}" is ${ds.status?.phase ?? 'Pending'}; the load starts once its workers are ready (Bound)` };
    }
    const others = (await this.crs.list<DataLoad>('DataLoad', namespace)).filter((o) => o.metadata.name !== dl.metadata.name && o.spec?.dataset?.name === dsName);
    const mine = [new Date(dl.metadata.creationTimestamp ?? 0).getTime(), dl.metadata.name] as const;
    const blocker = others.find((o) => {
      if (o.status?.phase === 'Running') return true;
      if ((o.spec.policy ?? 'Once') !== 'Once' || finished(o.status?.phase)) return false;
      const theirs = [new Date(o.metadata.creationTimestamp ?? 0).getTime(), o.metadata.name] as const;
      return theirs[0] < mine[0] || (theirs[0] === mine[0] && theirs[1] < mine[1]);
    });
    if (blocker) {
      return { reason: 'AnotherLoadActive', message: `DataLoad "${blocker.metadata.name}" loads Dataset "${dsName}" first; one load runs per dataset at a time` };
    }
    return undefined;
  }

  private async fromJob(dl: DataLoad, job: V1Job, status: DataLoadStatus, set: (c: ConditionInput) => void): Promise<void> {
    const key = `${dl.metadata.namespace}/${dl.metadata.name}`;
    const js = job.status ?? {};
    const failedCond = (js.conditions ?? []).find((c) => c.type === 'Failed' && c.status === 'True');
    const completeCond = (js.conditions ?? []).find((c) => c.type === 'Complete' && c.status === 'True');
    status.attempts = js.failed ?? 0;
    if (js.startTime) status.startTime = iso(js.startTime);
    const totals = await this.totals(dl);
    if (completeCond || (js.succeeded ?? 0) > 0) {
      status.phase = 'Complete';
      status.completionTime = iso(js.completionTime ?? completeCond?.lastTransitionTime ?? new Date());
      status.progress = (await this.summary(job)) ?? { ...totals, filesDone: totals.filesTotal, bytesDone: totals.bytesTotal, failures: 0, percent: '100.0%' };
      set({ type: 'Ready', status: 'True', reason: 'LoadComplete', message: `loaded ${status.progress.filesDone} files (${status.progress.percent}) after ${status.attempts} failed attempt(s)` });
      this.baselines.delete(key);
    } else if (failedCond) {
      status.phase = 'Failed';
      status.completionTime = iso(failedCond.lastTransitionTime ?? new Date());
      status.progress = (await this.summary(job)) ?? status.progress;
      set({ type: 'Ready', status: 'False', reason: failedCond.reason ?? 'JobFailed', message: `Job ${job.metadata!.name} failed ${status.attempts} time(s): ${failedCond.message ?? 'see the loader pod logs'}` });
      this.baselines.delete(key);
    } else {
      status.phase = 'Running';
      status.progress = await this.running(key, dl, job, totals);
      set({ type: 'Ready', status: 'False', reason: 'Loading', message: `loading: ${status.progress.percent} (${status.attempts} failed attempt(s) so far)` });
    }
    if (status.startTime) {
      const end = status.completionTime ? new Date(status.completionTime).getTime() : Date.now();
      status.duration = `${Math.max(0, Math.round((end - new Date(status.startTime).getTime()) / 1000))}s`;
    }
  }

  /** Totals for the progress denominator: the Dataset's UFS totals when the whole namespace loads. */
  private async totals(dl: DataLoad): Promise<Pick<LoadProgressStatus, 'filesTotal' | 'bytesTotal'>> {
    const paths = dl.spec.paths ?? ['/'];
    if (!paths.includes('/')) return { filesTotal: 0, bytesTotal: 0 };
    try {
      const ds = await this.crs.get<Dataset>('Dataset', dl.metadata.namespace, dl.spec.dataset.name);
      return { filesTotal: ds.status?.fileCount ?? 0, bytesTotal: ds.status?.ufsTotalBytes ?? 0 };
    } catch {
      return { filesTotal: 0, bytesTotal: 0 };
    }
  }

  private async running(key: string, dl: DataLoad, job: V1Job, totals: Pick<LoadProgressStatus, 'filesTotal' | 'bytesTotal'>): Promise<LoadProgressStatus> {
    const ref = { namespace: dl.metadata.namespace, name: dl.spec.dataset.name, replicas: 0 };
    try {
      const ds = await this.crs.get<Dataset>('Dataset', ref.namespace, ref.name);
      ref.replicas = ds.status?.workers?.desired ?? 1;
    } catch {
      ref.replicas = 1;
    }
    const stats = await this.o.stats.collect(ref, { withUfs: false }).catch(() => undefined);
    const bytes = stats?.workers.reduce((a, w) => a + Number(w.usedBytes || 0), 0) ?? 0;
    const files = stats?.workers.reduce((a, w) => a + Number(w.filesCached || 0), 0) ?? 0;
    let base = this.baselines.get(key);
    if (!base || base.job !== job.metadata!.name) {
      base = { bytes, files, job: job.metadata!.name! };
      this.baselines.set(key, base);
    }
    const bytesDone = Math.max(0, bytes - base.bytes);
    const filesDone = Math.max(0, files - base.files);
    return { filesDone, filesTotal: totals.filesTotal, bytesDone, bytesTotal: totals.bytesTotal, failures: job.status?.failed ?? 0, percent: percent(bytesDone, totals.bytesTotal) };
  }

  private async summary(job: V1Job): Promise<LoadProgressStatus | undefined> {
    const pods = await this.o.k.core.listNamespacedPod({ namespace: job.metadata!.namespace!, labelSelector: `job-name=${job.metadata!.name}` });
    return progressFromPods(pods.items);
  }

  /** ttlSecondsAfterFinished: a finished Once load deletes itself (and its Job) after the TTL. */
  private async expire(dl: DataLoad): Promise<Result> {
    const ttl = dl.spec.ttlSecondsAfterFinished;
    if (ttl === undefined || !dl.status?.completionTime) return;
    const due = new Date(dl.status.completionTime).getTime() + ttl * 1000;
    if (Date.now() < due) return { requeueAfterMs: due - Date.now() + 100 };
    await this.crs.delete('DataLoad', dl.metadata.namespace, dl.metadata.name).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
  }

  private async write(dl: DataLoad, status: DataLoadStatus, requeueAfterMs?: number): Promise<Result> {
    status.observedGeneration = dl.metadata.generation;
    const before = dl.status ?? {};
    if (JSON.stringify(before) !== JSON.stringify(status)) {
      await this.crs.replaceStatus({ ...dl, status });
      if (before.phase !== status.phase && status.phase) {
        const ready = status.conditions?.find((c) => c.type === 'Waiting' || c.type === 'Ready');
        await this.o.events.record(dl, status.phase === 'Failed' ? 'Warning' : 'Normal', `Load${status.phase}`, `phase ${before.phase ?? '(none)'} -> ${status.phase}${ready ? `: ${ready.message}` : ''}`);
      }
    }
    if (finished(status.phase) && (dl.spec.policy ?? 'Once') === 'Once' && dl.spec.ttlSecondsAfterFinished !== undefined) return { requeueAfterMs: dl.spec.ttlSecondsAfterFinished * 1000 + 100 };
    return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
  }
}
