import { Command } from 'commander';

// Placeholder until the owning area lands its command.
export function loadCommand(): Command {
  return new Command('load').description('(not built yet)').action(() => {
    throw new Error('hoard load: not built yet');
  });
}
