import type { Server } from '@grpc/grpc-js';
import type { Server as HttpServer } from 'node:http';
import { hoardBin } from '../lib/root.js';
import type { Logger } from '../lib/log.js';
import { Healer } from './node/healer.js';
import { MountPods, type MountPodsOptions } from './node/mount-pods.js';
import { notReadyReasons } from './node/readiness.js';
import { CacheUsage } from './node/usage.js';
import { VolumeManager } from './node/volumes.js';
import { identityHandlers } from './server/identity.js';
import { nodeHandlers } from './server/node.js';
import { startGrpc, startHealth } from './server/server.js';

export interface CsiPluginOptions {
  endpoint: string;
  nodeId: string;
  stateDir: string;
  logger: Logger;
  healthHost?: string;
  /** Port for GET /healthz; undefined = no HTTP endpoint, 0 = pick a free port. */
  healthPort?: number;
  fuseDevice?: string;
  healIntervalMs?: number;
  /** Program + leading args standing for `hoard` when spawning FUSE children. */
  childCommand?: string[];
  /** Pod mode (FUSE in a mount pod per volume); unset = process mode (a detached child per volume). */
  mountPods?: Omit<MountPodsOptions, 'logger' | 'nodeName'>;
}

export interface CsiPlugin {
  socket: string;
  health?: string;
  stop(): Promise<void>;
}

/**
 * The node plugin: gRPC on a unix socket, the volume manager, the healer and /healthz. Stopping it
 * leaves FUSE children and mounts in place on purpose: pods keep reading while the plugin is
 * restarted, and the next plugin adopts them from the state dir.
 */
export async function startCsiPlugin(opts: CsiPluginOptions): Promise<CsiPlugin> {
  const logger = opts.logger;
  if (!opts.nodeId) throw new Error('--node-id is required (the Kubernetes node name, e.g. from spec.nodeName)');
  const mountPods = opts.mountPods ? new MountPods({ ...opts.mountPods, nodeName: opts.nodeId, logger }) : undefined;
  const volumes = new VolumeManager({ stateDir: opts.stateDir, logger, childCommand: opts.childCommand, mountPods });
  await volumes.init();
  const usage = new CacheUsage();
  let recovered = false;
  const notReady = async () => {
    const reasons = await notReadyReasons({
      fuseDevice: opts.fuseDevice ?? '/dev/fuse',
      requiredFiles: opts.childCommand || mountPods ? [] : [hoardBin()],
    });
    if (!recovered) reasons.push('restoring volumes recorded before the restart');
    return reasons;
  };
  const identity = identityHandlers({ notReady });
  const node = nodeHandlers({ nodeId: opts.nodeId, volumes, usage, logger });
  const { server, socket } = await startGrpc(opts.endpoint, { Identity: identity, Node: node as Record<string, (r: any) => Promise<unknown>> }, logger);
  let http: { server: HttpServer; address: string } | undefined;
  if (opts.healthPort !== undefined) http = await startHealth(opts.healthHost ?? '0.0.0.0', opts.healthPort, notReady);

  const healer = new Healer(volumes, logger, opts.healIntervalMs ?? 2000);
  const known = volumes.state.all().length;
  if (known > 0) logger.info({ volumes: known }, 'checking volumes recorded before the restart');
  await healer.pass();
  if (mountPods) {
    await mountPods
      .collectStrays(new Set(volumes.state.all().map((v) => v.volumeId)))
      .catch((err: unknown) => logger.error({ err: (err as Error).message }, 'could not list or clean up this node\'s mount pods'));
  }
  recovered = true;
  if (known > 0) logger.info({ volumes: volumes.state.all().length }, mountPods ? 'startup check done: live mount pods adopted, broken bindings restored' : 'startup check done: live FUSE processes adopted, broken mounts restored');
  healer.start();
  const reasons = await notReady();
  if (reasons.length) logger.warn({ reasons }, 'plugin cannot mount volumes yet; Probe reports not ready');

  return {
    socket,
    health: http?.address,
    async stop() {
      await healer.stop();
      await new Promise<void>((ok) => server.tryShutdown(() => ok()));
      await new Promise<void>((ok) => (http ? http.server.close(() => ok()) : ok()));
      await usage.close();
    },
  };
}

export type { Server };
