import { Command } from 'commander';

// Placeholder until the owning area lands its command.
export function mountCommand(): Command {
  return new Command('mount').description('(not built yet)').action(() => {
    throw new Error('hoard mount: not built yet');
  });
}
