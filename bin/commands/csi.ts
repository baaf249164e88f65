import { KubeConfig } from '@kubernetes/client-node';
import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { startCsiController } from '../../csi/controller-plugin.js';
import { startCsiPlugin, type CsiPluginOptions } from '../../csi/plugin.js';
import { DEFAULT_HOST_PATH_ALLOW, DEFAULT_KUBELET_DIR, hostPathPolicy, normaliseHostPath, parseHostPathAllowList } from '../../lib/host-paths.js';
import { createLogger } from '../../lib/log.js';

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--health-port: "${v}" must be a port number (0 picks a free one)`);
  return n;
}

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 1 || n > 3600) throw new Error(`--mount-timeout: "${v}" must be a number of seconds from 1 to 3600`);
  return n;
}

interface CsiOpts {
  endpoint: string;
  nodeId?: string;
  stateDir: string;
  healthPort?: number;
  healthHost: string;
  fuseDevice: string;
  controller?: boolean;
  namespace: string;
  kubeconfig?: string;
  mountMode: 'process' | 'pod';
  mountImage?: string;
  mountImagePullPolicy?: string;
  mountPriorityClass: string;
  mountRoot: string;
  mountTimeout: number;
  hostPathAllow: string[];
  kubeletDir: string;
}

function kubeConfigFrom(opts: CsiOpts): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (opts.kubeconfig) kubeConfig.loadFromFile(opts.kubeconfig);
  else kubeConfig.loadFromDefault();
  return kubeConfig;
}

/** Pod-mode settings from the flags; a missing one is named with where it usually comes from. */
function podMode(opts: CsiOpts): CsiPluginOptions['mountPods'] {
  if (opts.mountMode !== 'pod') return undefined;
  if (!DNS_LABEL.test(opts.namespace) || opts.namespace.length > 63) throw new Error(`--namespace: "${opts.namespace}" must be a namespace name (DNS label); in a pod set POD_NAMESPACE from the downward API metadata.namespace`);
  if (!opts.mountImage) throw new Error('--mount-image is required with --mount-mode pod (or HOARD_MOUNT_IMAGE): the Hoard image mount pods run, normally the plugin\'s own');
  const kubeletDir = normaliseHostPath(opts.kubeletDir, '--kubelet-dir');
  const hostPathAllow = parseHostPathAllowList(opts.hostPathAllow, '--host-path-allow', [kubeletDir]);
  return {
    kubeConfig: kubeConfigFrom(opts),
    namespace: opts.namespace,
    image: opts.mountImage,
    imagePullPolicy: opts.mountImagePullPolicy,
    priorityClassName: opts.mountPriorityClass,
    mountRoot: resolve(opts.mountRoot),
    readyTimeoutMs: opts.mountTimeout * 1000,
    hostPaths: hostPathPolicy(hostPathAllow, [kubeletDir]),
  };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function csiCommand(): Command {
  return new Command('csi')
    .description(
      'Serve the CSI driver csi.hoard.dev. Node plugin (default): stages one FUSE mount per volume and bind-mounts it into pods. ' +
        'With --controller: the Controller service, which provisions read-only views of a Dataset for claims naming its StorageClass (run beside csi-provisioner)',
    )
    .addOption(new Option('--endpoint <endpoint>', 'CSI socket, unix:///path.sock').env('CSI_ENDPOINT').default('unix:///csi/csi.sock'))
    .addOption(new Option('--node-id <name>', 'this node\'s name as the CO knows it (e.g. spec.nodeName); node plugin only').env('NODE_ID'))
    .option('--state-dir <dir>', 'where staged/published volumes are recorded (keep it on the host: survives restarts)', '/var/lib/hoard-csi')
    .option('--health-port <port>', 'serve GET /healthz (runs Probe) on this port', port)
    .option('--health-host <host>', 'address for --health-port', '0.0.0.0')
    .option('--fuse-device <path>', 'FUSE device the plugin checks before reporting ready', '/dev/fuse')
    .option('--controller', 'serve the Controller service (CreateVolume/DeleteVolume) instead of the Node service')
    .addOption(new Option('--namespace <ns>', 'the plugin\'s namespace: controller mode keeps volume records (ConfigMaps) there, pod mode its mount pods').env('POD_NAMESPACE').default('default'))
    .option('--kubeconfig <file>', 'controller and pod mode: kubeconfig file (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)')
    .addOption(
      new Option('--mount-mode <mode>', 'node plugin: where FUSE runs: "pod" = a mount pod per volume (survives plugin restarts; for clusters), "process" = a detached child of the plugin (hoard up, tests)')
        .choices(['process', 'pod'])
        .env('HOARD_MOUNT_MODE')
        .default('process'),
    )
    .addOption(new Option('--mount-image <image>', 'pod mode: image of new mount pods (the plugin\'s own image); running pods keep theirs').env('HOARD_MOUNT_IMAGE'))
    .addOption(new Option('--mount-image-pull-policy <policy>', 'pod mode: imagePullPolicy of the mount pods').choices(['Always', 'IfNotPresent', 'Never']))
    .option('--mount-priority-class <name>', 'pod mode: priorityClassName of the mount pods ("" for none)', 'system-node-critical')
    .option('--mount-root <dir>', 'pod mode: host directory (under the kubelet dir, Bidirectional in the plugin) where mount pods mount', '/var/lib/kubelet/plugins/csi.hoard.dev/mounts')
    .addOption(
      new Option('--host-path-allow <prefix,...>', 'pod mode: node folders a volume\'s file:// mounts may give a mount pod as hostPath (comma-separated; "" allows none); set it as the operator\'s. System folders, the kubelet directory and CacheRuntime cache tier folders are refused whatever this says')
        .env('HOARD_HOST_PATH_ALLOW')
        .default(DEFAULT_HOST_PATH_ALLOW, DEFAULT_HOST_PATH_ALLOW.join(','))
        .argParser((v: string) => parseHostPathAllowList(v, '--host-path-allow')),
    )
    .option('--kubelet-dir <dir>', 'pod mode: the kubelet\'s root directory on the node (never given to a mount pod as a data volume)', DEFAULT_KUBELET_DIR)
    .option('--mount-timeout <sec>', 'pod mode: how long NodeStageVolume waits for a new mount pod\'s FUSE mount', seconds, 60)
    .action(async (opts: CsiOpts) => {
      if (opts.controller) return runController(opts);
      return runNode(opts);
    });
}

function onSignals(stop: (signal: string) => void): void {
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function runController(opts: CsiOpts): Promise<void> {
  if (!DNS_LABEL.test(opts.namespace) || opts.namespace.length > 63) throw new Error(`--namespace: "${opts.namespace}" must be a namespace name (DNS label)`);
  const logger = createLogger('csi-controller');
  const kubeConfig = kubeConfigFrom(opts);
  const ctl = await startCsiController({ endpoint: opts.endpoint, kubeConfig, namespace: opts.namespace, healthHost: opts.healthHost, healthPort: opts.healthPort, logger });
  process.stdout.write(`${JSON.stringify({ event: 'listening', endpoint: `unix://${ctl.socket}`, health: ctl.health ?? null, mode: 'controller' })}\n`);
  logger.info({ socket: ctl.socket, health: ctl.health, namespace: opts.namespace }, 'csi controller serving');
  let stopping = false;
  onSignals((signal) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    ctl.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

async function runNode(opts: CsiOpts): Promise<void> {
  if (!opts.nodeId) throw new Error('--node-id is required (or NODE_ID): the Kubernetes node name, e.g. from the downward API spec.nodeName');
  const logger = createLogger('csi');
  const plugin = await startCsiPlugin({
    endpoint: opts.endpoint,
    nodeId: opts.nodeId,
    stateDir: resolve(opts.stateDir),
    healthHost: opts.healthHost,
    healthPort: opts.healthPort,
    fuseDevice: opts.fuseDevice,
    mountPods: podMode(opts),
    logger,
  });
  process.stdout.write(`${JSON.stringify({ event: 'listening', endpoint: `unix://${plugin.socket}`, health: plugin.health ?? null, nodeId: opts.nodeId, mountMode: opts.mountMode })}\n`);
  logger.info({ socket: plugin.socket, health: plugin.health, nodeId: opts.nodeId }, 'csi plugin serving');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping; FUSE mounts stay for the next plugin to adopt');
    plugin.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  onSignals(stop);
}
