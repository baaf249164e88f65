import { Command } from 'commander';

// Placeholder until the owning area lands its command.
export function operatorCommand(): Command {
  return new Command('operator').description('(not built yet)').action(() => {
    throw new Error('hoard operator: not built yet');
  });
}
