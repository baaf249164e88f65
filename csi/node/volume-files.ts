import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MountTable } from '../../lib/mounts.js';
import { writeAtomically } from './state.js';

/**
 * Writes what the FUSE child of one volume reads: its mount table, and the NodeStageVolume
 * secrets as credential files (0600 in 0700 directories) that the table points at through
 * credentialsDir. Secrets never appear in the table, the state file or a command line.
 */
export async function writeVolumeFiles(
  volumeDir: string,
  table: MountTable,
  credentials: Map<string, Record<string, string>>,
): Promise<string> {
  await mkdir(volumeDir, { recursive: true, mode: 0o700 });
  await chmod(volumeDir, 0o700);
  const credRoot = join(volumeDir, 'credentials');
  await rm(credRoot, { recursive: true, force: true });
  const mounts = [];
  for (const m of table.mounts) {
    // A credentialsDir from the operator names a path inside worker pods, not on this node.
    const { credentialsDir: _workerPath, ...spec } = m;
    const creds = credentials.get(m.name);
    if (creds) {
      const dir = join(credRoot, m.name);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      for (const [key, value] of Object.entries(creds)) {
        await writeFile(join(dir, key), value, { mode: 0o600 });
      }
      mounts.push({ ...spec, credentialsDir: dir });
    } else {
      mounts.push(spec);
    }
  }
  const file = join(volumeDir, 'mounts.json');
  await writeAtomically(file, `${JSON.stringify({ mounts }, null, 2)}\n`);
  return file;
}

export async function removeVolumeFiles(volumeDir: string): Promise<void> {
  await rm(volumeDir, { recursive: true, force: true });
}

/** The credentials writeVolumeFiles kept for a volume (pod mode rebuilds a deleted mount pod's Secret from them). */
export async function readVolumeCredentials(volumeDir: string): Promise<Map<string, Record<string, string>>> {
  const root = join(volumeDir, 'credentials');
  const out = new Map<string, Record<string, string>>();
  const mounts = await readdir(root).catch(() => [] as string[]);
  for (const mount of mounts) {
    const creds: Record<string, string> = {};
    for (const key of await readdir(join(root, mount))) creds[key] = await readFile(join(root, mount, key), 'utf8');
    out.set(mount, creds);
  }
  return out;
}
