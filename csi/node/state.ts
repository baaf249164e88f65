import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Capability, VolumeConfig } from '../server/validation.js';

export interface PublishRecord {
  targetPath: string;
  readOnly: boolean;
  subPath: string;
  capability: Capability;
  /** The plugin created target_path, so Unpublish removes it (spec: "the SP MUST delete ..."). */
  createdTarget: boolean;
}

export interface ChildRecord {
  pid: number;
  /** /proc/<pid>/stat start time, so a recycled pid is never mistaken for our child. */
  startTime: string;
}

export interface VolumeRecord {
  volumeId: string;
  stagingPath: string;
  capability: Capability;
  config: VolumeConfig;
  /** Per-volume directory under the state dir: mounts file, credentials, child logs. */
  dir: string;
  child?: ChildRecord;
  /** Pod mode: the mount pod serving this volume. */
  pod?: { name: string; uid?: string; image?: string; restarts: number };
  publishes: Record<string, PublishRecord>;
}

interface StateFile {
  version: 1;
  volumes: Record<string, VolumeRecord>;
}

/**
 * The plugin's own record of staged and published volumes. It is the source of truth after a
 * restart, so every change is written at once, atomically (tmp file, fsync, rename): a crash
 * leaves either the old or the new file, never half of one.
 */
export class StateStore {
  private volumes = new Map<string, VolumeRecord>();
  private writing: Promise<void> = Promise.resolve();
  readonly file: string;

  constructor(readonly dir: string) {
    this.file = join(dir, 'state.json');
  }

  async load(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const parsed = JSON.parse(text) as StateFile;
    if (parsed.version !== 1 || typeof parsed.volumes !== 'object') throw new Error(`${this.file}: unknown state format; move it away to start clean`);
    this.volumes = new Map(Object.entries(parsed.volumes));
  }

  get(volumeId: string): VolumeRecord | undefined {
    return this.volumes.get(volumeId);
  }

  all(): VolumeRecord[] {
    return [...this.volumes.values()];
  }

  /** Finds the volume published at targetPath, whatever volume id the caller believes it is. */
  findByTarget(targetPath: string): VolumeRecord | undefined {
    return this.all().find((v) => v.publishes[targetPath] !== undefined);
  }

  async put(record: VolumeRecord): Promise<void> {
    this.volumes.set(record.volumeId, record);
    await this.save();
  }

  async delete(volumeId: string): Promise<void> {
    this.volumes.delete(volumeId);
    await this.save();
  }

  /** Writes are chained so two volumes changing at once never interleave their renames. */
  save(): Promise<void> {
    const snapshot: StateFile = { version: 1, volumes: Object.fromEntries(this.volumes) };
    const text = `${JSON.stringify(snapshot, null, 2)}\n`;
    this.writing = this.writing.catch(() => undefined).then(() => writeAtomically(this.file, text));
    return this.writing;
  }
}

export async function writeAtomically(file: string, text: string, mode = 0o600): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}
