import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { resolveEnv } from './container-env.js';
import type { Store } from './store.js';
import type { KObject } from './types.js';

/**
 * Runs a pod's first container as a real local process, the way a container runtime would as far
 * as the process can tell: its own mount namespace and root (an overlay of the host root, so the
 * in-pod paths exist without touching the host), every volume (configMap, secret, emptyDir,
 * Memory emptyDir as tmpfs, hostPath with its type check, subPath/subPathExpr) bind-mounted at its
 * mountPath, read-only where asked, `$(VAR)` expanded in args, and its own IP: a loopback address
 * per pod, so "listen on 0.0.0.0:9400" in two pods does not collide (0.0.0.0 is read as the pod IP).
 * Needs root (mount namespaces), as the FUSE tests do. Volumes the emulator cannot provide (nfs,
 * persistentVolumeClaim) leave the pod in ContainerCreating with the reason, as a kubelet would.
 */
export interface PodRunnerOptions {
  /** Map an image's executable to a local command, e.g. `{ hoard: ['node', hoardBin()] }`. */
  binaries: Record<string, string[]>;
  /** Run only pods this accepts (default: StatefulSet pods). */
  match?: (pod: KObject) => boolean;
}

export type ContainerState =
  | { kind: 'creating'; message: string }
  | { kind: 'running'; ready: boolean }
  | { kind: 'crashed'; exitCode: number; message: string; restarts: number };

interface Running {
  child?: ChildProcess;
  dir: string;
  ip: string;
  stopped: boolean;
  restarts: number;
  probe?: NodeJS.Timeout;
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export class PodRunner {
  private readonly pods = new Map<string, Running>();
  private readonly base = mkdtempSync(join(tmpdir(), 'hoard-kubelet-'));
  private readonly net = `127.${20 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}`;
  private nextIp = 2;

  constructor(
    private readonly store: Store,
    private readonly opts: PodRunnerOptions,
    /** Called on every state change of a pod's container. */
    private readonly report: (ns: string, name: string, ip: string, state: ContainerState) => void,
  ) {}

  accepts(pod: KObject): boolean {
    return this.opts.match ? this.opts.match(pod) : (pod.metadata.ownerReferences ?? []).some((r: { kind: string; controller?: boolean }) => r.controller && r.kind === 'StatefulSet');
  }

  /** The IP the pod gets (a loopback address of its own). */
  start(pod: KObject): string {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const existing = this.pods.get(key);
    if (existing) return existing.ip;
    const r: Running = { dir: join(this.base, pod.metadata.uid), ip: `${this.net}.${this.nextIp++ % 250}`, stopped: false, restarts: 0 };
    this.pods.set(key, r);
    mkdirSync(r.dir, { recursive: true });
    this.launch(pod, r);
    return r.ip;
  }

  has(ns: string, name: string): boolean {
    return this.pods.has(`${ns}/${name}`);
  }

  stop(ns: string, name: string): void {
    const r = this.pods.get(`${ns}/${name}`);
    if (!r) return;
    this.pods.delete(`${ns}/${name}`);
    r.stopped = true;
    clearInterval(r.probe);
    if (r.child?.pid && r.child.exitCode === null) {
      try {
        process.kill(-r.child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const child = r.child;
      setTimeout(() => {
        if (child.exitCode === null && child.pid) {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }, 5_000).unref();
      child.once('exit', () => rmSync(r.dir, { recursive: true, force: true }));
    } else rmSync(r.dir, { recursive: true, force: true });
  }

  async stopAll(): Promise<void> {
    const exits = [...this.pods.entries()].map(([key, r]) => {
      const done = r.child && r.child.exitCode === null ? new Promise((res) => r.child!.once('exit', res)) : Promise.resolve();
      const [ns, name] = key.split('/') as [string, string];
      this.stop(ns, name);
      return done;
    });
    await Promise.race([Promise.all(exits), new Promise((res) => setTimeout(res, 8_000))]);
    rmSync(this.base, { recursive: true, force: true });
  }

  private launch(pod: KObject, r: Running): void {
    const ns = pod.metadata.namespace;
    const name = pod.metadata.name;
    const container = pod.spec?.containers?.[0] ?? {};
    const env: Record<string, string> = { ...resolveEnv(this.store, { ...pod, status: { ...(pod.status ?? {}), podIP: r.ip } }, container), HOSTNAME: name };
    const expand = (s: string) => s.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v: string) => env[v] ?? m);
    let script: string[];
    try {
      script = this.mountScript(pod, container, r, expand);
    } catch (e) {
      this.report(ns, name, r.ip, { kind: 'creating', message: (e as Error).message });
      return;
    }
    const [exe, ...args] = [...(container.command ?? []), ...(container.args ?? [])].map((a: string) => expand(a).replace(/^0\.0\.0\.0:/, `${r.ip}:`));
    const mapped = this.opts.binaries[exe!] ?? [exe!];
    const envArgs = Object.entries({ PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }).map(([k, v]) => shq(`${k}=${v}`));
    const root = join(r.dir, 'root');
    script.push(`cd / && exec chroot ${shq(root)} /usr/bin/env -i ${envArgs.join(' ')} ${[...mapped, ...args].map(shq).join(' ')}`);
    const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-ec', script.join('\n')], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    r.child = child;
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-2000)));
    this.report(ns, name, r.ip, { kind: 'running', ready: false });
    const probe = container.readinessProbe?.httpGet;
    if (probe) {
      const port = typeof probe.port === 'number' ? probe.port : (container.ports ?? []).find((p: { name?: string }) => p.name === probe.port)?.containerPort;
      let last: boolean | undefined;
      r.probe = setInterval(() => {
        httpOk(r.ip, Number(port), probe.path ?? '/').then((ok) => {
          if (r.stopped || r.child !== child || ok === last) return;
          last = ok;
          this.report(ns, name, r.ip, { kind: 'running', ready: ok });
        });
      }, 300);
    }
    child.on('exit', (code, signal) => {
      clearInterval(r.probe);
      if (r.stopped) return;
      r.restarts++;
      const lastLine = stderr.trim().split('\n').slice(-3).join('\n');
      this.report(ns, name, r.ip, { kind: 'crashed', exitCode: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), message: lastLine, restarts: r.restarts });
      const again = setTimeout(() => !r.stopped && this.launch(pod, r), Math.min(10_000, 500 * 2 ** Math.min(r.restarts, 5)));
      again.unref();
    });
  }

  /** Shell lines that build the pod's root and mount its volumes (run inside the new mount namespace). */
  private mountScript(pod: KObject, container: Record<string, any>, r: Running, expand: (s: string) => string): string[] {
    const root = join(r.dir, 'root');
    const ov = join(r.dir, 'overlay');
    const lines = [
      `mkdir -p ${shq(ov)} ${shq(root)}`,
      `mount -t tmpfs tmpfs ${shq(ov)}`,
      `mkdir -p ${shq(`${ov}/up`)} ${shq(`${ov}/work`)}`,
      `mount -t overlay overlay -o lowerdir=/,upperdir=${shq(`${ov}/up`)},workdir=${shq(`${ov}/work`)} ${shq(root)}`,
      `mount --rbind /dev ${shq(`${root}/dev`)}`,
      `mount -t proc proc ${shq(`${root}/proc`)}`,
      `mount --rbind /sys ${shq(`${root}/sys`)}`,
    ];
    const volumes = new Map<string, Record<string, any>>((pod.spec?.volumes ?? []).map((v: { name: string }) => [v.name, v]));
    const kubeletDir = (v: string) => `/var/lib/kubelet/pods/${pod.metadata.uid}/volumes/kubernetes.io~empty-dir/${v}`;
    const prepared = new Map<string, { path: string; tmpfs?: string }>();
    const source = (vname: string): { path: string; tmpfs?: string } => {
      const done = prepared.get(vname);
      if (done) return done;
      const v = volumes.get(vname);
      if (!v) throw new Error(`volume "${vname}" is mounted but not declared in spec.volumes`);
      const host = join(r.dir, 'volumes', vname);
      let out: { path: string; tmpfs?: string };
      if (v.hostPath) {
        const p = String(v.hostPath.path);
        const type = v.hostPath.type ?? '';
        if (type === 'DirectoryOrCreate') mkdirSync(p, { recursive: true });
        else if (type === 'Directory' && !(existsSync(p) && statSync(p).isDirectory())) {
          throw new Error(`MountVolume.SetUp failed for volume "${vname}" : hostPath type check failed: ${p} is not a directory`);
        }
        out = { path: p };
      } else if (v.emptyDir) {
        mkdirSync(host, { recursive: true });
        out = v.emptyDir.medium === 'Memory' ? { path: host, tmpfs: v.emptyDir.sizeLimit ? String(v.emptyDir.sizeLimit).replace(/i$/, '').replace(/M$/, 'm').replace(/G$/, 'g') : '64m' } : { path: host };
      } else if (v.configMap || v.secret) {
        mkdirSync(host, { recursive: true });
        const rt = this.store.registry.lookup('', 'v1', v.configMap ? 'configmaps' : 'secrets')!;
        const obj = this.store.tryGet(rt, pod.metadata.namespace, v.configMap ? v.configMap.name : v.secret.secretName);
        if (!obj) throw new Error(`MountVolume.SetUp failed for volume "${vname}" : ${v.configMap ? 'configmap' : 'secret'} not found`);
        const data: Record<string, Buffer> = {};
        for (const [k, val] of Object.entries(obj.data ?? {})) data[k] = v.secret ? Buffer.from(String(val), 'base64') : Buffer.from(String(val));
        for (const [k, val] of Object.entries(obj.stringData ?? {})) data[k] = Buffer.from(String(val));
        for (const [k, val] of Object.entries(data)) writeFileSync(join(host, k), val, { mode: v.secret?.defaultMode ?? 0o644 });
        out = { path: host };
      } else {
        throw new Error(`MountVolume.SetUp failed for volume "${vname}" : the emulator cannot mount ${Object.keys(v).filter((k) => k !== 'name').join(', ')} volumes`);
      }
      prepared.set(vname, out);
      return out;
    };
    for (const m of container.volumeMounts ?? []) {
      const src = source(m.name);
      const target = `${root}${m.mountPath}`;
      const sub = m.subPathExpr ? expand(m.subPathExpr) : m.subPath;
      if (sub && (sub.startsWith('/') || sub.split('/').includes('..'))) throw new Error(`volumeMount ${m.name}: subPath "${sub}" must be relative without ".."`);
      if (src.tmpfs) {
        lines.push(`mkdir -p ${shq(target)}`, `mount -t tmpfs -o size=${src.tmpfs} tmpfs ${shq(target)}`);
        const kd = `${root}${kubeletDir(m.name)}`;
        lines.push(`mkdir -p ${shq(kd)}`, `mount --bind ${shq(target)} ${shq(kd)}`);
        continue;
      }
      let from = src.path;
      if (sub) {
        from = join(src.path, sub);
        if (!existsSync(from)) mkdirSync(from, { recursive: true });
      }
      const isFile = statSync(from).isFile();
      lines.push(isFile ? `mkdir -p ${shq(dirname(target))} && touch ${shq(target)}` : `mkdir -p ${shq(target)}`);
      lines.push(`mount --bind ${shq(from)} ${shq(target)}`);
      if (m.readOnly) lines.push(`mount -o remount,bind,ro ${shq(target)}`);
    }
    return lines;
  }
}

function httpOk(host: string, port: number, path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, method: 'GET', timeout: 1_000 }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) >= 200 && (res.statusCode ?? 500) < 400);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
