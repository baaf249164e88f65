import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { registerAdmissionConfigValidation } from './admission-config.js';
import { registerBuiltins } from './builtins.js';
import { CrdController } from './crds.js';
import { enforceImmutableFields } from './immutable.js';
import { GarbageCollector } from './gc.js';
import { Kubelet, type KubeletOptions } from './kubelet.js';
import { servePortForward } from './port-forward.js';
import { MutatingWebhooks } from './mutating-webhooks.js';
import { Objects } from './objects.js';
import { Registry } from './registry.js';
import { Router } from './router.js';
import { registerSecretValidation } from './secrets.js';
import { ServiceRoutes } from './service-routes.js';
import { Store } from './store.js';

export type { JobContext, KubeletOptions } from './kubelet.js';
export { Kubelet } from './kubelet.js';
export { runContainerLocally, type RunLocallyOptions } from './container-env.js';
export type { ObjectRef } from './objects.js';
export { Objects } from './objects.js';
export type { Store } from './store.js';
export type { ServiceRoutes, ServiceTarget } from './service-routes.js';
export type { KObject, ResourceType, StoreEvent } from './types.js';

export interface ApiServerOptions {
  /** Run the simulated kubelet/controller-manager (StatefulSets, Jobs, pods, PV/PVC binding). */
  kubelet?: boolean | KubeletOptions;
  /** Port on 127.0.0.1 (default: any free port). */
  port?: number;
  /** Watch events kept per resource for resuming watches (default 10000); older resourceVersions get 410. */
  watchHistory?: number;
  /** Interval of BOOKMARK events for watches that allow them (default 1000 ms). */
  bookmarkIntervalMs?: number;
  /** Namespaces to create at start (default: default, kube-system, kube-public, kube-node-lease). */
  namespaces?: string[];
  /** Built-in resources not served, e.g. ["batch/v1/cronjobs"] (an older or trimmed cluster): discovery omits them, requests get 404. */
  unservedApis?: string[];
  /** Log every request to stderr (or set HOARD_APISERVER_LOG=1). */
  logRequests?: boolean;
}

export interface ApiServer {
  /** http://127.0.0.1:<port> */
  url: string;
  /** A KubeConfig pointing at the emulator (context "emulator", namespace "default"). */
  kubeConfig: KubeConfig;
  /** A kubeconfig file for child processes and kubectl (removed by stop()). */
  kubeconfigPath: string;
  /** In-process access by apiVersion/kind: get, list, create, patch, delete, waitFor, onChange. */
  objects: Objects;
  /** The underlying store (resource-type level API, watch hub). */
  store: Store;
  /**
   * Where Services lead when the API server itself dials one (admission webhooks):
   * `services.route({ namespace, name, port: 443 }, { host: '127.0.0.1', port })`.
   */
  services: ServiceRoutes;
  /** Present when started with `kubelet`. */
  kubelet?: Kubelet;
  /** End all open watch streams (clients re-watch from their last resourceVersion). */
  dropWatches(): void;
  stop(): Promise<void>;
}

/** Start a Kubernetes API-server emulator on 127.0.0.1 (plain http). */
export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const registry = new Registry();
  registerBuiltins(registry, opts.unservedApis);
  const store = new Store(registry, { watchHistory: opts.watchHistory });
  new GarbageCollector(store);
  new CrdController(store, registry);
  enforceImmutableFields(store, registry);
  registerSecretValidation(store);
  registerAdmissionConfigValidation(store);
  const nsRt = registry.lookup('', 'v1', 'namespaces')!;
  for (const ns of opts.namespaces ?? ['default', 'kube-system', 'kube-public', 'kube-node-lease']) store.create(nsRt, undefined, { metadata: { name: ns } });
  const kubelet = opts.kubelet ? new Kubelet(store, opts.kubelet === true ? {} : opts.kubelet) : undefined;
  kubelet?.start();

  const log = opts.logRequests || process.env.HOARD_APISERVER_LOG === '1';
  const services = new ServiceRoutes(store, registry);
  const router = new Router(store, registry, {
    admission: new MutatingWebhooks(store, registry, services),
    bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 1000,
    onRequest: log ? (method, path, status) => process.stderr.write(`apiserver ${method} ${path} -> ${status}\n`) : undefined,
  });
  const server = createServer((req, res) => router.handle(req, res));
  server.keepAliveTimeout = 60_000;
  const portForwards = servePortForward(server, store);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'emulator', server: url, skipTLSVerify: true }],
    users: [{ name: 'emulator', token: 'emulator' }],
    contexts: [{ name: 'emulator', cluster: 'emulator', user: 'emulator', namespace: 'default' }],
    currentContext: 'emulator',
  });
  const dir = mkdtempSync(join(tmpdir(), 'hoard-apiserver-'));
  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, kubeConfig.exportConfig(), { mode: 0o600 });

  return {
    url,
    kubeConfig,
    kubeconfigPath,
    objects: new Objects(store),
    store,
    services,
    kubelet,
    dropWatches: () => store.hub.closeAll(),
    async stop() {
      await kubelet?.stop();
      server.closeAllConnections();
      portForwards.close(); // upgraded connections are no longer the HTTP server's to close
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
