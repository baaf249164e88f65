import { Command } from 'commander';

// Placeholder until the owning area lands its command.
export function workerCommand(): Command {
  return new Command('worker').description('(not built yet)').action(() => {
    throw new Error('hoard worker: not built yet');
  });
}
