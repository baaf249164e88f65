#!/usr/bin/env node
// The composition root: one CLI, each command built by the area that owns it.
import { Command } from 'commander';
import { workerCommand } from './commands/worker.js';
import { upCommand } from './commands/up.js';
import { mountCommand } from './commands/mount.js';
import { loadCommand } from './commands/load.js';
import { csiCommand } from './commands/csi.js';
import { operatorCommand } from './commands/operator.js';

const program = new Command('hoard')
  .description('Kubernetes-native dataset cache: S3/NFS/HTTP data cached on workers, served as a directory')
  .version('0.1.0')
  .showHelpAfterError();

for (const cmd of [upCommand(), workerCommand(), mountCommand(), loadCommand(), csiCommand(), operatorCommand()]) {
  program.addCommand(cmd);
}

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`hoard: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
