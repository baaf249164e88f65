import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { resolveEnv } from './container-env.js';
import type { Store } from './store.js';
import type { KObject, ResourceType } from './types.js';
import { now } from './util.js';

export interface PodProcessOptions {
  /** Pods to run for real (the rest only get a Running status). */
  match: (pod: KObject) => boolean;
  /** The local command standing for a container's executable in an image, e.g. `hoard` -> `[process.execPath, hoardBin()]`. */
  binary: (exe: string, image: string) => string[];
  /** Extra environment for every process (e.g. HOARD_LOG_LEVEL). */
  env?: Record<string, string>;
}

interface Running {
  ns: string;
  name: string;
  uid: string;
  child?: ChildProcess;
  restarts: number;
  lastState?: Record<string, unknown>;
  stopped: boolean;
  exited?: Promise<void>;
  stderr: string;
}

class VolumeNotReady extends Error {}

const condition = (type: string, ok: boolean) => ({ type, status: ok ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: now() });

/**
 * The kubelet's container runtime for chosen pods: the first container's command runs as a local
 * process with the pod's volumes materialised (hostPath as the host path, Secret and ConfigMap
 * items as files, emptyDir as a directory; paths in args and env are mapped from the container's
 * mount paths). restartPolicy Always: a process that exits is started again after a short backoff,
 * with restartCount and lastState.terminated (exit code, stderr tail as message) in the status, as
 * a real kubelet reports them. Deleting the pod sends SIGTERM, then SIGKILL after the grace period.
 */
export class PodProcesses {
  private readonly byUid = new Map<string, Running>();
  private readonly root = mkdtempSync(join(tmpdir(), 'hoard-kubelet-pods-'));

  constructor(
    private readonly store: Store,
    private readonly t: { pods: ResourceType; secrets: ResourceType; configmaps: ResourceType },
    private readonly opts: PodProcessOptions,
  ) {}

  matches(pod: KObject): boolean {
    return this.opts.match(pod);
  }

  /** The live process of a pod (tests kill it to simulate a crash). */
  pidOf(ns: string, name: string): number | undefined {
    for (const r of this.byUid.values()) if (r.ns === ns && r.name === name && !r.stopped && r.child?.exitCode === null) return r.child.pid;
    return undefined;
  }

  start(pod: KObject): void {
    const uid = pod.metadata.uid as string;
    if (this.byUid.has(uid)) return;
    const r: Running = { ns: pod.metadata.namespace, name: pod.metadata.name, uid, restarts: 0, stopped: false, stderr: '' };
    this.byUid.set(uid, r);
    this.launch(r);
  }

  /** The pod is gone: stop its process (SIGTERM, SIGKILL after the grace period, at most 10 s). */
  stop(pod: KObject): void {
    const r = this.byUid.get(pod.metadata.uid);
    if (!r || r.stopped) return;
    r.stopped = true;
    const graceMs = Math.min(10, Number(pod.spec?.terminationGracePeriodSeconds ?? 30)) * 1000;
    this.kill(r, graceMs);
  }

  async stopAll(): Promise<void> {
    for (const r of this.byUid.values()) {
      r.stopped = true;
      this.kill(r, 3000);
    }
    await Promise.all([...this.byUid.values()].map((r) => r.exited));
    rmSync(this.root, { recursive: true, force: true });
  }

  private kill(r: Running, graceMs: number): void {
    const child = r.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    void r.exited?.finally(() => clearTimeout(timer));
  }

  private current(r: Running): KObject | undefined {
    const pod = this.store.tryGet(this.t.pods, r.ns, r.name);
    return pod && pod.metadata.uid === r.uid && !pod.metadata.deletionTimestamp ? pod : undefined;
  }

  private setStatus(r: Running, state: Record<string, unknown>, ready: boolean): void {
    const pod = this.current(r);
    if (!pod) return;
    const c = pod.spec?.containers?.[0] ?? {};
    const started = pod.status?.startTime ?? now();
    const status = {
      ...(pod.status ?? {}),
      phase: (state.waiting as { reason?: string } | undefined)?.reason === 'ContainerCreating' ? 'Pending' : 'Running',
      hostIP: '127.0.0.1',
      podIP: '127.0.0.1',
      startTime: started,
      conditions: [condition('PodScheduled', true), condition('Initialized', true), condition('ContainersReady', ready), condition('Ready', ready)],
      containerStatuses: [{ name: c.name, image: c.image ?? '', imageID: '', ready, started: ready, restartCount: r.restarts, state, ...(r.lastState ? { lastState: r.lastState } : {}) }],
    };
    this.store.write(this.t.pods, pod, { ...pod, status });
  }

  private launch(r: Running): void {
    const pod = this.current(r);
    if (!pod || r.stopped) return;
    let paths: [string, string][];
    try {
      paths = this.materialise(pod);
    } catch (err) {
      if (!(err instanceof VolumeNotReady)) throw err;
      // What a real kubelet does too: the container waits (ContainerCreating) until its volumes can be set up.
      this.setStatus(r, { waiting: { reason: 'ContainerCreating', message: err.message } }, false);
      setTimeout(() => this.launch(r), 200).unref();
      return;
    }
    const map = (v: string) => {
      for (const [inside, outside] of paths) {
        if (v === inside || v.startsWith(`${inside}/`)) return outside + v.slice(inside.length);
        const eq = v.indexOf('=');
        if (eq > 0 && (v.slice(eq + 1) === inside || v.slice(eq + 1).startsWith(`${inside}/`))) return `${v.slice(0, eq + 1)}${outside}${v.slice(eq + 1 + inside.length)}`;
      }
      return v;
    };
    const c = pod.spec.containers[0];
    const [exe, ...args] = [...(c.command ?? []), ...(c.args ?? [])].map(map);
    const local = this.opts.binary(exe!, String(c.image ?? ''));
    const env = Object.fromEntries(Object.entries(resolveEnv(this.store, pod, c)).map(([k, v]) => [k, map(v)]));
    const startedAt = now();
    const child = spawn(local[0]!, [...local.slice(1), ...args], { env: { ...process.env, ...(this.opts.env ?? {}), ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    r.child = child;
    r.stderr = '';
    child.stderr!.on('data', (d: Buffer) => (r.stderr = (r.stderr + d.toString('utf8')).slice(-4000)));
    r.exited = new Promise((ok) => child.once('exit', () => ok()));
    child.once('error', () => undefined);
    child.once('exit', (code, signal) => {
      if (r.stopped) return;
      const exitCode = code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 6);
      const terminated = { exitCode, reason: 'Error', startedAt, finishedAt: now(), message: r.stderr.trim().split('\n').slice(-5).join('\n').slice(-1000) };
      r.lastState = { terminated };
      r.restarts++;
      this.setStatus(r, { waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting failed container ${c.name}` } }, false);
      setTimeout(() => this.launch(r), Math.min(300 * 2 ** (r.restarts - 1), 5000)).unref();
    });
    this.setStatus(r, { running: { startedAt } }, true);
  }

  /** Container mount path -> host path for every volume mount; Secret/ConfigMap items written out. */
  private materialise(pod: KObject): [string, string][] {
    const volumes = new Map<string, any>((pod.spec?.volumes ?? []).map((v: any) => [v.name, v]));
    const out: [string, string][] = [];
    for (const m of pod.spec.containers[0].volumeMounts ?? []) {
      const v = volumes.get(m.name);
      if (!v) throw new VolumeNotReady(`volume ${m.name} is not defined`);
      let host: string;
      if (v.hostPath) {
        host = v.hostPath.path;
        if (v.hostPath.type === 'DirectoryOrCreate') mkdirSync(host, { recursive: true });
      } else {
        host = join(this.root, pod.metadata.uid, m.name);
        mkdirSync(host, { recursive: true });
        const source = v.secret
          ? { obj: this.store.tryGet(this.t.secrets, pod.metadata.namespace, v.secret.secretName), items: v.secret.items, what: `secret "${v.secret.secretName}"`, b64: true }
          : v.configMap
            ? { obj: this.store.tryGet(this.t.configmaps, pod.metadata.namespace, v.configMap.name), items: v.configMap.items, what: `configmap "${v.configMap.name}"`, b64: false }
            : undefined;
        if (source) {
          if (!source.obj) throw new VolumeNotReady(`MountVolume.SetUp failed for volume "${m.name}": ${source.what} not found`);
          const data: Record<string, string> = source.b64
            ? Object.fromEntries(Object.entries(source.obj.data ?? {}).map(([k, val]) => [k, Buffer.from(String(val), 'base64').toString('utf8')]))
            : { ...(source.obj.data ?? {}) };
          const items: { key: string; path: string }[] = source.items ?? Object.keys(data).map((k) => ({ key: k, path: k }));
          for (const item of items) {
            if (data[item.key] === undefined) throw new VolumeNotReady(`MountVolume.SetUp failed for volume "${m.name}": key ${item.key} not found in ${source.what}`);
            mkdirSync(dirname(join(host, item.path)), { recursive: true });
            writeFileSync(join(host, item.path), data[item.key]!, { mode: 0o400 });
          }
        }
      }
      out.push([m.mountPath, host]);
    }
    return out.sort((a, b) => b[0].length - a[0].length);
  }
}
