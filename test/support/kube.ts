import http from 'node:http';
import https from 'node:https';
import { ApiException, KubeConfig } from '@kubernetes/client-node';
import { hoardBin } from '../../lib/root.js';
import { startApiServer, type ApiServer, type KObject, type KubeletOptions } from './apiserver/index.js';
import { isDataServerPod } from './data-server.js';

export interface TestCluster {
  kubeConfig: KubeConfig;
  /** A kubeconfig file for child processes (`hoard operator`, kubectl). */
  kubeconfigPath: string;
  /** True when running against the in-process emulator rather than a real cluster. */
  emulated: boolean;
  /** The emulator (objects, kubelet, store) when `emulated`; undefined on a real cluster. */
  emulator?: ApiServer;
  stop(): Promise<void>;
}

export interface TestClusterOptions {
  /** Emulator only: its kubelet (job hook, pod delays). */
  kubelet?: KubeletOptions;
  /**
   * Emulator only: run worker (StatefulSet) pods as real `hoard worker` processes, each with its
   * own loopback pod IP, as a real cluster does (else they only get a Ready status). The test data
   * server's pods (data-server.ts) always run for real.
   */
  realWorkers?: boolean;
  /**
   * Always the emulator, even with HOARD_TEST_KUBECONFIG set: for files that stand in for a
   * cluster component themselves (csi-provisioner, the node plugin's mount pods), which on a real
   * cluster would race the real one. Say which component, for the reader.
   */
  standsInFor?: string;
}

/**
 * The cluster for operator integration tests: the one HOARD_TEST_KUBECONFIG points at when set
 * (nothing else needed), otherwise a fresh API-server emulator with the kubelet simulation.
 */
export async function getTestCluster(opts: TestClusterOptions = {}): Promise<TestCluster> {
  const path = process.env.HOARD_TEST_KUBECONFIG;
  if (path && !opts.standsInFor) {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(path);
    return { kubeConfig, kubeconfigPath: path, emulated: false, stop: async () => {} };
  }
  const runPods = {
    binaries: { hoard: [process.execPath, hoardBin()], node: [process.execPath] },
    match: (pod: KObject) =>
      isDataServerPod(pod) || (opts.realWorkers === true && (pod.metadata.ownerReferences ?? []).some((r: { kind: string; controller?: boolean }) => r.controller && r.kind === 'StatefulSet')),
  };
  const emulator = await startApiServer({ kubelet: { ...opts.kubelet, runPods } });
  return { kubeConfig: emulator.kubeConfig, kubeconfigPath: emulator.kubeconfigPath, emulated: true, emulator, stop: () => emulator.stop() };
}

/** The image workers, loaders and the data server run in: HOARD_TEST_IMAGE on a real cluster (one its nodes can pull), else a name the emulator never pulls. */
export function testImage(): string {
  return process.env.HOARD_TEST_IMAGE ?? 'hoard:test';
}

/** The cluster's DNS domain (HOARD_TEST_CLUSTER_DOMAIN, default cluster.local): in-cluster names of Services and workers. */
export function testClusterDomain(): string {
  return process.env.HOARD_TEST_CLUSTER_DOMAIN ?? 'cluster.local';
}

/** One raw JSON request with the KubeConfig's credentials (works for the emulator and real clusters). */
export async function rawRequest(kc: KubeConfig, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: any }> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error('the kubeconfig has no current cluster');
  const opts: https.RequestOptions = { method, headers: { Accept: 'application/json' } };
  await kc.applyToHTTPSOptions(opts);
  const url = new URL(server.replace(/\/$/, '') + path);
  const data = body === undefined ? undefined : JSON.stringify(body);
  if (data) opts.headers = { ...opts.headers, 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(data) };
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON (e.g. /healthz)
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
    req.end(data);
  });
}

/**
 * Server-side apply raw manifests (e.g. crds/*.yaml parsed with `yaml`). Use this rather than the typed
 * ApiextensionsV1Api for CRDs: client-node's typed serializer silently drops schema keys it knows under
 * other names (`default` is `_default`, `enum` is `_enum`, `x-kubernetes-*` are `x_kubernetes_*`).
 */
export async function applyManifests(kc: KubeConfig, objects: Record<string, any>[], namespace = 'default'): Promise<Record<string, any>[]> {
  const out: Record<string, any>[] = [];
  for (const obj of objects) {
    const apiVersion = String(obj.apiVersion ?? '');
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const discovery = await rawRequest(kc, 'GET', base);
    const resource = (discovery.body?.resources ?? []).find((r: any) => r.kind === obj.kind && !String(r.name).includes('/'));
    if (!resource) throw new Error(`the cluster serves no ${obj.kind} in ${apiVersion} (is its CRD installed?)`);
    const ns = resource.namespaced ? `/namespaces/${obj.metadata?.namespace ?? namespace}` : '';
    const path = `${base}${ns}/${resource.name}/${obj.metadata?.name}?fieldManager=hoard-test&force=true&fieldValidation=Strict`;
    const res = await rawRequest(kc, 'PATCH', path, obj, 'application/apply-patch+yaml');
    if (res.status >= 300) throw new Error(`apply ${obj.kind} ${obj.metadata?.name}: HTTP ${res.status}: ${res.body?.message ?? JSON.stringify(res.body)}`);
    out.push(res.body);
  }
  return out;
}

/** Runs a client call expected to fail; the ApiException's code and parsed Status body. */
export async function apiFailure(call: () => Promise<unknown>): Promise<{ code: number; status: any }> {
  try {
    await call();
  } catch (err) {
    if (!(err instanceof ApiException)) throw new Error(`expected an ApiException, got ${String(err)}`);
    const e = err as ApiException<string>;
    return { code: e.code, status: JSON.parse(e.body) };
  }
  throw new Error('expected the call to fail');
}
