// The data-plane flags shared by `hoard mount` and `hoard load`: which workers, which mount table.
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { validateMountTable, type MountTable } from '../../lib/mounts.js';
import type { ClientOptions } from '../../worker/client/index.js';

export interface WorkerFlags {
  workers?: string;
  workersSrv?: string;
  mountsFile?: string;
  replication?: string;
}

/** Reads and validates a mount table file; errors name the file and the field. */
export async function readMountsFile(path: string): Promise<MountTable> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`--mounts-file: cannot read ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`--mounts-file: ${path} is not JSON (${(err as Error).message}); expected {"mounts":[{"name":…,"uri":…}]}`);
  }
  let table: MountTable;
  try {
    table = validateMountTable(json);
  } catch (err) {
    throw new Error(`--mounts-file ${path}: ${(err as Error).message}`);
  }
  // A relative credentialsDir is relative to the file, so a table and its credentials can travel
  // together (a mount pod gets both from one Secret volume, wherever it is mounted).
  const base = dirname(resolve(path));
  return { mounts: table.mounts.map((m) => (m.credentialsDir && !isAbsolute(m.credentialsDir) ? { ...m, credentialsDir: resolve(base, m.credentialsDir) } : m)) };
}

export function positiveIntFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: "${value}" must be a whole number >= 1`);
  return n;
}

/** Client options from --workers / --workers-srv / --mounts-file / --replication. */
export async function clientOptionsFromFlags(flags: WorkerFlags): Promise<ClientOptions> {
  if (!!flags.workers === !!flags.workersSrv) {
    throw new Error('give exactly one of --workers id=host:port,… (a static list) or --workers-srv NAME (the workers\' SRV record)');
  }
  const workers: ClientOptions['workers'] = flags.workers
    ? flags.workers.split(',').map((s) => s.trim()).filter(Boolean)
    : { srv: flags.workersSrv! };
  if (Array.isArray(workers) && workers.length === 0) throw new Error('--workers: the list is empty; use id=host:port,id=host:port');
  return {
    workers,
    mounts: flags.mountsFile ? await readMountsFile(flags.mountsFile) : undefined,
    replication: positiveIntFlag(flags.replication, '--replication'),
  };
}
