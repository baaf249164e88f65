import { createHash } from 'node:crypto';
import { resolveEnv } from './container-env.js';
import { ApiError } from './errors.js';
import { PodProcesses, type PodProcessOptions } from './pod-processes.js';
import type { Store } from './store.js';
import type { KObject, ResourceType, StoreEvent } from './types.js';
import { now, randomSuffix } from './util.js';
import { PodRunner, type ContainerState, type PodRunnerOptions } from './pod-runner.js';

export interface JobContext {
  job: KObject;
  pod: KObject;
  /** The pod's first container. */
  container: Record<string, any>;
  /** command + args of that container. */
  command: string[];
  /** The container environment, Secret/ConfigMap references resolved. */
  env: Record<string, string>;
}

export interface KubeletOptions {
  /** Runs for every Job pod: resolve = the Job completes, reject = the Job fails. Default: complete at once. */
  jobHook?: (ctx: JobContext) => Promise<void>;
  /** Delay before a new pod becomes Running/Ready (default 0). */
  podReadyDelayMs?: number;
  nodeName?: string;
  /** Run chosen pods' containers as real local processes, with restarts (see pod-processes.ts). */
  processes?: PodProcessOptions;
  /** Run (StatefulSet) pods as real local processes with their volumes and a loopback IP each (pod-runner.ts; needs root). */
  runPods?: PodRunnerOptions;
}

const PVC_PROTECTION = 'kubernetes.io/pvc-protection';
const PV_PROTECTION = 'kubernetes.io/pv-protection';

const controllerOf = (obj: KObject): { kind: string; name: string; uid: string } | undefined =>
  (obj.metadata.ownerReferences ?? []).find((r: { controller?: boolean }) => r.controller);

function condition(type: string, status: boolean, extra: Record<string, string> = {}): Record<string, string> {
  return { type, status: status ? 'True' : 'False', lastProbeTime: null as unknown as string, lastTransitionTime: now(), ...extra };
}

/**
 * A simulated kubelet + controller-manager for the emulator: StatefulSet and Job controllers,
 * pod lifecycle (Pending -> Running/Ready), PV/PVC binding and the storage-protection finalizers.
 * Reacts to store events on the next macrotask, so API clients observe the same sequence of
 * watch events a real cluster would produce (only faster).
 */
export class Kubelet {
  private readonly queue = new Map<string, () => void>();
  private scheduled = false;
  private readonly notReady = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private unsubscribe?: () => void;
  private stopped = false;
  private podIp = 1;
  private readonly runner?: PodRunner;
  readonly nodeName: string;
  /** Present when started with `processes`: the pods running as real processes. */
  readonly processes?: PodProcesses;
  private readonly t: Record<'pods' | 'sts' | 'jobs' | 'pvcs' | 'pvs' | 'nodes', ResourceType> & { cronjobs?: ResourceType };

  constructor(
    private readonly store: Store,
    private readonly opts: KubeletOptions = {},
  ) {
    this.nodeName = opts.nodeName ?? 'hoard-emulated-node';
    const r = store.registry;
    this.t = {
      pods: r.lookup('', 'v1', 'pods')!,
      sts: r.lookup('apps', 'v1', 'statefulsets')!,
      jobs: r.lookup('batch', 'v1', 'jobs')!,
      cronjobs: r.lookup('batch', 'v1', 'cronjobs'),
      pvcs: r.lookup('', 'v1', 'persistentvolumeclaims')!,
      pvs: r.lookup('', 'v1', 'persistentvolumes')!,
      nodes: r.lookup('', 'v1', 'nodes')!,
    };
    if (opts.processes) {
      this.processes = new PodProcesses(store, { pods: this.t.pods, secrets: r.lookup('', 'v1', 'secrets')!, configmaps: r.lookup('', 'v1', 'configmaps')! }, opts.processes);
    }
    if (opts.runPods) this.runner = new PodRunner(store, opts.runPods, (ns, name, ip, state) => this.enqueue(`run/${ns}/${name}/${Date.now()}/${Math.random()}`, () => this.reportContainer(ns, name, ip, state)));
    // The StorageObjectInUseProtection admission plugin's job.
    store.use({
      admit: (rt, next, old) => {
        if (this.stopped || old) return;
        const f = rt === this.t.pvcs ? PVC_PROTECTION : rt === this.t.pvs ? PV_PROTECTION : undefined;
        if (f && !(next.metadata.finalizers ?? []).includes(f)) next.metadata.finalizers = [...(next.metadata.finalizers ?? []), f];
      },
    });
  }

  start(): void {
    this.unsubscribe = this.store.subscribe((ev) => this.observe(ev));
    if (!this.store.tryGet(this.t.nodes, undefined, this.nodeName)) {
      this.store.create(this.t.nodes, undefined, {
        metadata: { name: this.nodeName, labels: { 'kubernetes.io/hostname': this.nodeName, 'kubernetes.io/os': 'linux' } },
        spec: {},
      });
      const node = this.store.get(this.t.nodes, undefined, this.nodeName);
      this.store.write(this.t.nodes, node, { ...node, status: { conditions: [condition('Ready', true, { reason: 'KubeletReady' })], addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] } });
    }
  }

  /** Stop reacting; waits for running Job hooks. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    await Promise.allSettled([...this.running]);
    await this.processes?.stopAll();
    await this.runner?.stopAll();
  }

  /** Force a pod's readiness (e.g. to simulate a failing worker); sticky until set back. */
  setPodReady(ns: string, name: string, ready: boolean): void {
    const key = `${ns}/${name}`;
    if (ready) this.notReady.delete(key);
    else this.notReady.add(key);
    const pod = this.store.tryGet(this.t.pods, ns, name);
    if (pod && pod.status?.phase === 'Running') this.store.write(this.t.pods, pod, { ...pod, status: this.runningStatus(pod, ready) });
  }

  /** What the CronJob controller does on schedule: create a Job from spec.jobTemplate now. */
  triggerCronJob(ns: string, name: string): KObject {
    if (!this.t.cronjobs) throw new Error('this emulator does not serve batch/v1 cronjobs');
    const cronjobs = this.t.cronjobs;
    const cj = this.store.get(cronjobs, ns, name);
    const tpl = cj.spec?.jobTemplate ?? {};
    const job = this.store.create(this.t.jobs, ns, {
      metadata: {
        name: `${name}-${Math.floor(Date.now() / 60000)}${randomSuffix(3)}`.slice(0, 63),
        labels: { ...(tpl.metadata?.labels ?? {}) },
        annotations: { ...(tpl.metadata?.annotations ?? {}), 'cronjob.kubernetes.io/instantiate': 'manual' },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name, uid: cj.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: tpl.spec ?? {},
    });
    const fresh = this.store.get(cronjobs, ns, name);
    const ref = { kind: 'Job', namespace: ns, name: job.metadata.name, uid: job.metadata.uid, apiVersion: 'batch/v1', resourceVersion: job.metadata.resourceVersion };
    this.store.write(cronjobs, fresh, { ...fresh, status: { ...(fresh.status ?? {}), active: [...(fresh.status?.active ?? []), ref], lastScheduleTime: now() } });
    return job;
  }

  /** Resolves once queued reconciles and running Job hooks are done. */
  async settled(): Promise<void> {
    for (let i = 0; i < 100 && (this.queue.size || this.running.size || this.scheduled); i++) {
      await Promise.allSettled([...this.running]);
      await new Promise((r) => setImmediate(r));
    }
  }

  private enqueue(key: string, fn: () => void): void {
    if (this.stopped) return;
    this.queue.set(key, fn);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const work = [...this.queue.values()];
      this.queue.clear();
      for (const fn of work) {
        try {
          fn();
        } catch (err) {
          // Objects vanish and change under a controller all the time: the next event retries.
          if (!(err instanceof ApiError)) throw err;
        }
      }
    });
  }

  private observe(ev: StoreEvent): void {
    const { rt, object: obj } = ev;
    const md = obj.metadata;
    if (rt === this.t.sts) this.enqueue(`sts/${md.namespace}/${md.name}`, () => this.syncStatefulSet(md.namespace, md.name));
    else if (rt === this.t.pods) {
      const owner = controllerOf(obj);
      if (owner?.kind === 'StatefulSet') this.enqueue(`sts/${md.namespace}/${owner.name}`, () => this.syncStatefulSet(md.namespace, owner.name));
      if (ev.type !== 'DELETED' && obj.status?.phase === 'Pending' && !md.deletionTimestamp) this.startPod(md.namespace, md.name);
      if (ev.type === 'DELETED' || md.deletionTimestamp) this.runner?.stop(md.namespace, md.name);
      if (ev.type === 'DELETED') {
        this.processes?.stop(obj);
        for (const v of obj.spec?.volumes ?? []) {
          const claim = v.persistentVolumeClaim?.claimName;
          if (claim) this.enqueue(`pvc/${md.namespace}/${claim}`, () => this.syncClaim(md.namespace, claim));
        }
      }
    } else if (rt === this.t.jobs && ev.type !== 'DELETED') this.enqueue(`job/${md.namespace}/${md.name}`, () => this.syncJob(md.namespace, md.name));
    else if (rt === this.t.pvcs && ev.type !== 'DELETED') this.enqueue(`pvc/${md.namespace}/${md.name}`, () => this.syncClaim(md.namespace, md.name));
    else if (rt === this.t.pvs || (rt === this.t.pvcs && ev.type === 'DELETED')) {
      const pvName = rt === this.t.pvs ? md.name : obj.spec?.volumeName;
      if (pvName) this.enqueue(`pv/${pvName}`, () => this.syncVolume(pvName));
    }
  }

  // ---- pods ----

  private runningStatus(pod: KObject, ready: boolean): Record<string, any> {
    const started = pod.status?.startTime ?? now();
    return {
      ...(pod.status ?? {}),
      phase: 'Running',
      hostIP: '127.0.0.1',
      podIP: pod.status?.podIP ?? `10.244.0.${(this.podIp++ % 250) + 1}`,
      startTime: started,
      conditions: [condition('PodScheduled', true), condition('Initialized', true), condition('ContainersReady', ready), condition('Ready', ready)],
      containerStatuses: (pod.spec?.containers ?? []).map((c: { name: string; image?: string }) => ({
        name: c.name,
        image: c.image ?? '',
        imageID: '',
        ready,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: started } },
      })),
    };
  }

  private containerStatuses(pod: KObject, state: Record<string, unknown>, ready: boolean, restartCount: number, lastState?: Record<string, unknown>): Record<string, unknown>[] {
    return (pod.spec?.containers ?? []).map((c: { name: string; image?: string }) => ({
      name: c.name, image: c.image ?? '', imageID: '', ready, started: 'running' in state, restartCount, state, ...(lastState ? { lastState } : {}),
    }));
  }

  /** A real container's state (pod-runner.ts) -> the pod's status, as the kubelet reports it. */
  private reportContainer(ns: string, name: string, ip: string, state: ContainerState): void {
    const pod = this.store.tryGet(this.t.pods, ns, name);
    if (!pod || pod.metadata.deletionTimestamp) return;
    const prev = pod.status?.containerStatuses?.[0];
    const restarts = state.kind === 'crashed' ? state.restarts : prev?.restartCount ?? 0;
    const base = { ...(pod.status ?? {}), hostIP: '127.0.0.1', podIP: ip, podIPs: [{ ip }], startTime: pod.status?.startTime ?? now() };
    let status: Record<string, unknown>;
    if (state.kind === 'creating') {
      status = { ...base, phase: 'Pending', conditions: [condition('PodScheduled', true), condition('Ready', false, { reason: 'ContainersNotReady' })], containerStatuses: this.containerStatuses(pod, { waiting: { reason: 'ContainerCreating' } }, false, 0) };
      this.store.create(this.store.registry.lookup('', 'v1', 'events')!, ns, {
        metadata: { name: `${name}.${randomSuffix(8)}` },
        involvedObject: { kind: 'Pod', namespace: ns, name, uid: pod.metadata.uid, apiVersion: 'v1' },
        reason: 'FailedMount', message: state.message, type: 'Warning', source: { component: 'kubelet', host: this.nodeName }, count: 1, firstTimestamp: now(), lastTimestamp: now(),
      });
    } else if (state.kind === 'running') {
      const ready = state.ready && !this.notReady.has(`${ns}/${name}`);
      status = { ...base, phase: 'Running', conditions: [condition('PodScheduled', true), condition('Initialized', true), condition('ContainersReady', ready), condition('Ready', ready)], containerStatuses: this.containerStatuses(pod, { running: { startedAt: now() } }, ready, restarts, prev?.lastState) };
    } else {
      const fallback = pod.spec?.containers?.[0]?.terminationMessagePolicy === 'FallbackToLogsOnError';
      const terminated = { exitCode: state.exitCode, reason: 'Error', finishedAt: now(), ...(fallback && state.message ? { message: state.message } : {}) };
      status = { ...base, phase: 'Running', conditions: [condition('PodScheduled', true), condition('ContainersReady', false), condition('Ready', false)], containerStatuses: this.containerStatuses(pod, { waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting failed container ${pod.spec?.containers?.[0]?.name} in pod ${name}` } }, false, restarts, { terminated }) };
    }
    this.store.write(this.t.pods, pod, { ...pod, status });
  }

  private startPod(ns: string, name: string): void {
    const run = () =>
      this.enqueue(`pod/${ns}/${name}`, () => {
        const pod = this.store.tryGet(this.t.pods, ns, name);
        if (!pod || pod.status?.phase !== 'Pending' || pod.metadata.deletionTimestamp) return;
        const next: KObject = { ...pod, spec: { ...pod.spec, nodeName: pod.spec?.nodeName ?? this.nodeName } };
        if (this.processes?.matches(next)) {
          if (!pod.spec?.nodeName) this.store.write(this.t.pods, pod, next);
          this.processes.start(next);
          return;
        }
        if (this.runner?.has(ns, name)) return;
        if (this.runner?.accepts(next)) {
          const written = this.store.write(this.t.pods, pod, { ...next, status: { ...(pod.status ?? {}), phase: 'Pending', conditions: [condition('PodScheduled', true)], containerStatuses: this.containerStatuses(next, { waiting: { reason: 'ContainerCreating' } }, false, 0) } });
          this.runner.start(written ?? next);
          return;
        }
        next.status = this.runningStatus(next, !this.notReady.has(`${ns}/${name}`));
        this.store.write(this.t.pods, pod, next);
      });
    if (this.opts.podReadyDelayMs) setTimeout(run, this.opts.podReadyDelayMs).unref();
    else run();
  }

  private podsOf(ns: string, ownerUid: string): KObject[] {
    // The ownerReference index, not a namespace scan: StatefulSet syncs run on every pod event.
    return this.store.dependentsOf(ownerUid).filter((p) => p.kind === 'Pod' && p.metadata.namespace === ns && controllerOf(p)?.uid === ownerUid);
  }

  private isReady(pod: KObject): boolean {
    return (pod.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
  }

  // ---- StatefulSet controller ----

  private syncStatefulSet(ns: string, name: string): void {
    const sts = this.store.tryGet(this.t.sts, ns, name);
    if (!sts || sts.metadata.deletionTimestamp) return;
    const replicas: number = sts.spec?.replicas ?? 1;
    const tpl = sts.spec?.template ?? {};
    const revision = `${name}-${createHash('sha256').update(JSON.stringify(tpl)).digest('hex').slice(0, 10)}`;
    for (const pod of this.podsOf(ns, sts.metadata.uid)) {
      const ordinal = Number(pod.metadata.name.slice(name.length + 1));
      const stale = pod.metadata.labels?.['controller-revision-hash'] !== revision;
      if (!pod.metadata.deletionTimestamp && (ordinal >= replicas || stale)) this.store.delete(this.t.pods, ns, pod.metadata.name);
    }
    for (let i = 0; i < replicas; i++) {
      const podName = `${name}-${i}`;
      if (this.store.tryGet(this.t.pods, ns, podName)) continue;
      this.store.create(this.t.pods, ns, {
        metadata: {
          name: podName,
          labels: { ...(tpl.metadata?.labels ?? {}), 'controller-revision-hash': revision, 'statefulset.kubernetes.io/pod-name': podName, 'apps.kubernetes.io/pod-index': String(i) },
          annotations: { ...(tpl.metadata?.annotations ?? {}) },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name, uid: sts.metadata.uid, controller: true, blockOwnerDeletion: true }],
        },
        spec: { ...(tpl.spec ?? {}), hostname: podName, ...(sts.spec?.serviceName ? { subdomain: sts.spec.serviceName } : {}) },
      });
    }
    const pods = this.podsOf(ns, sts.metadata.uid).filter((p) => !p.metadata.deletionTimestamp);
    const ready = pods.filter((p) => this.isReady(p)).length;
    const updated = pods.filter((p) => p.metadata.labels?.['controller-revision-hash'] === revision).length;
    const status = {
      observedGeneration: sts.metadata.generation,
      replicas: pods.length,
      readyReplicas: ready,
      currentReplicas: updated,
      updatedReplicas: updated,
      availableReplicas: ready,
      currentRevision: revision,
      updateRevision: revision,
      collisionCount: 0,
    };
    const fresh = this.store.get(this.t.sts, ns, name);
    this.store.write(this.t.sts, fresh, { ...fresh, status });
  }

  // ---- Job + CronJob controllers ----

  private syncJob(ns: string, name: string): void {
    const job = this.store.tryGet(this.t.jobs, ns, name);
    if (!job || job.metadata.deletionTimestamp || job.spec?.suspend) return;
    const finished = (job.status?.conditions ?? []).some((c: { type: string; status: string }) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
    if (finished || this.podsOf(ns, job.metadata.uid).length) return;
    const tpl = job.spec?.template ?? {};
    const uid = job.metadata.uid;
    const pod = this.store.create(this.t.pods, ns, {
      metadata: {
        name: `${name}-${randomSuffix()}`,
        labels: { ...(tpl.metadata?.labels ?? {}), 'batch.kubernetes.io/job-name': name, 'job-name': name, 'batch.kubernetes.io/controller-uid': uid, 'controller-uid': uid },
        annotations: { ...(tpl.metadata?.annotations ?? {}) },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name, uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: tpl.spec ?? {},
    });
    const startTime = now();
    this.store.write(this.t.jobs, job, { ...job, status: { ...(job.status ?? {}), startTime, active: 1, ready: 0 } });
    const container = pod.spec?.containers?.[0] ?? {};
    const ctx: JobContext = { job, pod, container, command: [...(container.command ?? []), ...(container.args ?? [])], env: resolveEnv(this.store, pod, container) };
    const hook = this.opts.jobHook ?? (() => Promise.resolve());
    const p = hook(ctx).then(
      () => this.finishJob(ns, name, pod.metadata.name, startTime, undefined),
      (err: unknown) => this.finishJob(ns, name, pod.metadata.name, startTime, err instanceof Error ? err.message : String(err)),
    );
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  private finishJob(ns: string, name: string, podName: string, startTime: string, failure: string | undefined): void {
    if (this.stopped) return;
    const at = now();
    const pod = this.store.tryGet(this.t.pods, ns, podName);
    if (pod) {
      const terminated = { exitCode: failure ? 1 : 0, reason: failure ? 'Error' : 'Completed', startedAt: startTime, finishedAt: at, ...(failure ? { message: failure.slice(0, 1000) } : {}) };
      const containerStatuses = (pod.spec?.containers ?? []).map((c: { name: string; image?: string }) => ({ name: c.name, image: c.image ?? '', imageID: '', ready: false, started: false, restartCount: 0, state: { terminated } }));
      this.store.write(this.t.pods, pod, { ...pod, status: { ...(pod.status ?? {}), phase: failure ? 'Failed' : 'Succeeded', conditions: [condition('Ready', false, { reason: 'PodCompleted' })], containerStatuses } });
    }
    const job = this.store.tryGet(this.t.jobs, ns, name);
    if (!job || job.metadata.deletionTimestamp) return;
    const status = failure
      ? { startTime, failed: 1, ready: 0, conditions: [condition('FailureTarget', true, { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' }), condition('Failed', true, { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' })] }
      : { startTime, succeeded: 1, ready: 0, completionTime: at, conditions: [condition('SuccessCriteriaMet', true, { reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' }), condition('Complete', true, { reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' })] };
    this.store.write(this.t.jobs, job, { ...job, status });
    const owner = controllerOf(job);
    if (owner?.kind === 'CronJob' && this.t.cronjobs) {
      const cj = this.store.tryGet(this.t.cronjobs, ns, owner.name);
      if (cj) {
        const active = (cj.status?.active ?? []).filter((r: { uid: string }) => r.uid !== job.metadata.uid);
        const next = { ...(cj.status ?? {}), active, ...(failure ? {} : { lastSuccessfulTime: at }) };
        if (!active.length) delete next.active;
        this.store.write(this.t.cronjobs, cj, { ...cj, status: next });
      }
    }
  }

  // ---- PV controller + storage protection ----

  private claimInUse(ns: string, claim: string): boolean {
    return this.store.list(this.t.pods, ns).some(
      (p) => !['Succeeded', 'Failed'].includes(p.status?.phase) && (p.spec?.volumes ?? []).some((v: any) => v.persistentVolumeClaim?.claimName === claim),
    );
  }

  private dropFinalizer(rt: ResourceType, obj: KObject, finalizer: string): void {
    const finalizers = (obj.metadata.finalizers ?? []).filter((f: string) => f !== finalizer);
    this.store.write(rt, obj, { ...obj, metadata: { ...obj.metadata, finalizers } });
  }

  private syncClaim(ns: string, name: string): void {
    const pvc = this.store.tryGet(this.t.pvcs, ns, name);
    if (!pvc) return;
    if (pvc.metadata.deletionTimestamp) {
      if ((pvc.metadata.finalizers ?? []).includes(PVC_PROTECTION) && !this.claimInUse(ns, name)) this.dropFinalizer(this.t.pvcs, pvc, PVC_PROTECTION);
      return;
    }
    if (pvc.status?.phase === 'Bound') return;
    const pv = pvc.spec?.volumeName
      ? this.store.tryGet(this.t.pvs, undefined, pvc.spec.volumeName)
      : this.store.list(this.t.pvs).find((v) => v.spec?.claimRef?.namespace === ns && v.spec?.claimRef?.name === name);
    if (!pv || pv.metadata.deletionTimestamp) return;
    const ref = pv.spec?.claimRef;
    if (ref && (ref.namespace !== ns || ref.name !== name || (ref.uid && ref.uid !== pvc.metadata.uid))) return;
    const claimRef = { kind: 'PersistentVolumeClaim', namespace: ns, name, uid: pvc.metadata.uid, apiVersion: 'v1', resourceVersion: pvc.metadata.resourceVersion };
    this.store.write(this.t.pvs, pv, { ...pv, spec: { ...pv.spec, claimRef }, status: { ...(pv.status ?? {}), phase: 'Bound' } });
    this.store.write(this.t.pvcs, pvc, {
      ...pvc,
      metadata: { ...pvc.metadata, annotations: { ...(pvc.metadata.annotations ?? {}), 'pv.kubernetes.io/bind-completed': 'yes' } },
      spec: { ...pvc.spec, volumeName: pv.metadata.name },
      status: { phase: 'Bound', accessModes: pv.spec?.accessModes ?? pvc.spec?.accessModes ?? [], capacity: pv.spec?.capacity ?? {} },
    });
  }

  private syncVolume(name: string): void {
    const pv = this.store.tryGet(this.t.pvs, undefined, name);
    if (!pv) return;
    const ref = pv.spec?.claimRef;
    const claim = ref ? this.store.tryGet(this.t.pvcs, ref.namespace, ref.name) : undefined;
    const claimGone = ref && (!claim || (ref.uid && claim.metadata.uid !== ref.uid));
    if (pv.metadata.deletionTimestamp) {
      if ((pv.metadata.finalizers ?? []).includes(PV_PROTECTION) && (!ref || claimGone)) this.dropFinalizer(this.t.pvs, pv, PV_PROTECTION);
      return;
    }
    if (claimGone && pv.status?.phase === 'Bound') {
      if (pv.spec?.persistentVolumeReclaimPolicy === 'Delete') this.store.delete(this.t.pvs, undefined, name);
      else this.store.write(this.t.pvs, pv, { ...pv, status: { ...pv.status, phase: 'Released' } });
      return;
    }
    const waiting = ref && claim ? [claim] : this.store.list(this.t.pvcs).filter((c) => c.spec?.volumeName === name);
    for (const c of waiting) this.enqueue(`pvc/${c.metadata.namespace}/${c.metadata.name}`, () => this.syncClaim(c.metadata.namespace, c.metadata.name));
  }
}
