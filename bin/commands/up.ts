import { Command } from 'commander';

// Placeholder until the owning area lands its command.
export function upCommand(): Command {
  return new Command('up').description('(not built yet)').action(() => {
    throw new Error('hoard up: not built yet');
  });
}
