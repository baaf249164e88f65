import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { Server as HttpServer } from 'node:http';
import type { Logger } from '../lib/log.js';
import { KubeDatasetSource } from './controller/datasets.js';
import { ConfigMapVolumeStore } from './controller/store.js';
import { controllerHandlers } from './server/controller.js';
import { identityHandlers } from './server/identity.js';
import { startGrpc, startHealth } from './server/server.js';

export interface CsiControllerOptions {
  endpoint: string;
  kubeConfig: KubeConfig;
  /** Namespace holding the volume records (the controller's own). */
  namespace: string;
  logger: Logger;
  healthHost?: string;
  healthPort?: number;
}

export interface CsiController {
  socket: string;
  health?: string;
  stop(): Promise<void>;
}

/**
 * Controller mode of `hoard csi`: Identity (with CONTROLLER_SERVICE) and Controller on one socket,
 * for the external-provisioner sidecar in the same pod. Leader election is the sidecar's: only the
 * leader's sidecar calls its controller, so this process keeps no lock of its own.
 */
export async function startCsiController(opts: CsiControllerOptions): Promise<CsiController> {
  const core = opts.kubeConfig.makeApiClient(CoreV1Api);
  const custom = opts.kubeConfig.makeApiClient(CustomObjectsApi);
  const notReady = async (): Promise<string[]> => {
    try {
      await core.listNamespacedConfigMap({ namespace: opts.namespace, limit: 1, labelSelector: 'app.kubernetes.io/component=csi-controller' });
      return [];
    } catch (err) {
      return [`cannot read volume records in namespace ${opts.namespace}: ${(err as Error).message}`];
    }
  };
  const controller = controllerHandlers({
    datasets: new KubeDatasetSource(custom, core),
    store: new ConfigMapVolumeStore(core, opts.namespace),
    logger: opts.logger,
  });
  const identity = identityHandlers({ notReady, controller: true });
  const { server, socket } = await startGrpc(opts.endpoint, { Identity: identity, Controller: controller as Record<string, (r: any) => Promise<unknown>> }, opts.logger);
  let http: { server: HttpServer; address: string } | undefined;
  if (opts.healthPort !== undefined) http = await startHealth(opts.healthHost ?? '0.0.0.0', opts.healthPort, notReady);
  return {
    socket,
    health: http?.address,
    async stop() {
      await new Promise<void>((ok) => server.tryShutdown(() => ok()));
      await new Promise<void>((ok) => (http ? http.server.close(() => ok()) : ok()));
    },
  };
}
