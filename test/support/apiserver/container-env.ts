import { spawn } from 'node:child_process';
import type { Store } from './store.js';
import type { KObject } from './types.js';

/** Resolve a container's environment the way the kubelet would (literals, Secret/ConfigMap refs, fieldRefs). */
export function resolveEnv(store: Store, pod: KObject, container: Record<string, any>): Record<string, string> {
  const ns = pod.metadata.namespace;
  const secretRt = store.registry.lookup('', 'v1', 'secrets')!;
  const cmRt = store.registry.lookup('', 'v1', 'configmaps')!;
  const secretData = (name: string): Record<string, string> => {
    const s = store.tryGet(secretRt, ns, name);
    const out: Record<string, string> = { ...(s?.stringData ?? {}) };
    for (const [k, v] of Object.entries(s?.data ?? {})) out[k] = Buffer.from(String(v), 'base64').toString('utf8');
    return out;
  };
  const cmData = (name: string): Record<string, string> => ({ ...(store.tryGet(cmRt, ns, name)?.data ?? {}) });
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const data = from.secretRef ? secretData(from.secretRef.name) : from.configMapRef ? cmData(from.configMapRef.name) : {};
    for (const [k, v] of Object.entries(data)) env[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of container.env ?? []) {
    const vf = e.valueFrom;
    if (!vf) env[e.name] = String(e.value ?? '');
    else if (vf.secretKeyRef) {
      const v = secretData(vf.secretKeyRef.name)[vf.secretKeyRef.key];
      if (v !== undefined) env[e.name] = v;
    } else if (vf.configMapKeyRef) {
      const v = cmData(vf.configMapKeyRef.name)[vf.configMapKeyRef.key];
      if (v !== undefined) env[e.name] = v;
    } else if (vf.fieldRef) {
      const path = String(vf.fieldRef.fieldPath);
      const value = path === 'metadata.name' ? pod.metadata.name : path === 'metadata.uid' ? pod.metadata.uid : path === 'metadata.namespace' ? ns : path === 'spec.nodeName' ? pod.spec?.nodeName : path === 'status.podIP' ? pod.status?.podIP : undefined;
      if (value !== undefined) env[e.name] = String(value);
    }
  }
  return env;
}

export interface RunLocallyOptions {
  /** Map an image's executable to a local command, e.g. `{ hoard: ['node', hoardBin()] }`. */
  binaries?: Record<string, string[]>;
  cwd?: string;
  /** Extra environment on top of the container's (e.g. worker addresses reachable from the test). */
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** Run a container's command+args as a local child process; rejects with its stderr tail on failure. */
export function runContainerLocally(command: string[], env: Record<string, string>, opts: RunLocallyOptions = {}): Promise<void> {
  if (!command.length) return Promise.reject(new Error('container has no command/args to run'));
  const [exe, ...args] = command;
  const mapped = opts.binaries?.[exe] ?? [exe];
  return new Promise((resolve, reject) => {
    const child = spawn(mapped[0], [...mapped.slice(1), ...args], { cwd: opts.cwd, env: { ...process.env, ...env, ...(opts.env ?? {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.resume();
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-4000);
    });
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${command.join(' ')} exited with ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}
