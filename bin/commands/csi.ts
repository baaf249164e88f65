import { Command } from 'commander';

// Placeholder until the owning area lands its command.
export function csiCommand(): Command {
  return new Command('csi').description('(not built yet)').action(() => {
    throw new Error('hoard csi: not built yet');
  });
}
