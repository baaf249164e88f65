import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { startCsiPlugin } from '../../csi/plugin.js';
import { createLogger } from '../../lib/log.js';

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--health-port: "${v}" must be a port number (0 picks a free one)`);
  return n;
}

export function csiCommand(): Command {
  return new Command('csi')
    .description('Serve the CSI node plugin (driver csi.hoard.dev): stages one FUSE mount per volume and bind-mounts it into pods')
    .addOption(new Option('--endpoint <endpoint>', 'CSI socket, unix:///path.sock').env('CSI_ENDPOINT').default('unix:///csi/csi.sock'))
    .addOption(new Option('--node-id <name>', 'this node\'s name as the CO knows it (e.g. spec.nodeName)').env('NODE_ID'))
    .option('--state-dir <dir>', 'where staged/published volumes are recorded (keep it on the host: survives restarts)', '/var/lib/hoard-csi')
    .option('--health-port <port>', 'serve GET /healthz (runs Probe) on this port', port)
    .option('--health-host <host>', 'address for --health-port', '0.0.0.0')
    .option('--fuse-device <path>', 'FUSE device the plugin checks before reporting ready', '/dev/fuse')
    .action(async (opts: { endpoint: string; nodeId?: string; stateDir: string; healthPort?: number; healthHost: string; fuseDevice: string }) => {
      if (!opts.nodeId) throw new Error('--node-id is required (or NODE_ID): the Kubernetes node name, e.g. from the downward API spec.nodeName');
      const logger = createLogger('csi');
      const plugin = await startCsiPlugin({
        endpoint: opts.endpoint,
        nodeId: opts.nodeId,
        stateDir: resolve(opts.stateDir),
        healthHost: opts.healthHost,
        healthPort: opts.healthPort,
        fuseDevice: opts.fuseDevice,
        logger,
      });
      process.stdout.write(`${JSON.stringify({ event: 'listening', endpoint: `unix://${plugin.socket}`, health: plugin.health ?? null, nodeId: opts.nodeId })}\n`);
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
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
