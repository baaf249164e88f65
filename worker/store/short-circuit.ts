import { randomBytes } from 'node:crypto';
import { readFileSync, statfsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HoardError } from '../../lib/errors.js';

// Short-circuit reads, as Alluxio and HDFS do them: a MEM tier kept as page files on a RAM file
// system can be read by a client on the same host straight from those files, with no worker
// round trip and no copy through a socket. The worker leaves a marker in the tier's directory
// and names it, with its token, in Stats; a client uses the directory only when the marker it
// finds there carries the same token, which proves it sees the very directory the worker
// writes (same host, same mount), not a look-alike path.

const MARKER = 'short-circuit.json';
/** statfs f_type of tmpfs and ramfs (linux/magic.h). */
const RAM_FS_TYPES = new Set([0x01021994, 0x858458f6]);

/** Whether `dir` lies on a RAM file system, its statfs type, and the bytes free there. */
export function statRamFs(dir: string): { ram: boolean; type: number; freeBytes: number } {
  const st = statfsSync(dir);
  const type = Number(st.type);
  return { ram: RAM_FS_TYPES.has(type), type, freeBytes: Number(st.bavail) * Number(st.bsize) };
}

export interface ShortCircuitInfo {
  dir: string;
  token: string;
  pageSize: number;
}

/** Refuses a MEM tier directory that is not on a RAM file system: its pages would be disk pages. */
export async function assertRamFs(dir: string, flag: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const st = statRamFs(dir);
  if (!st.ram) {
    throw new HoardError(
      'INVALID_ARGUMENT',
      `${flag}: ${dir} is not on tmpfs or ramfs (file system type 0x${st.type.toString(16)}); use a directory under /dev/shm, mount a tmpfs there, or make it an SSD tier`,
    );
  }
}

/**
 * Writes the tier's marker (atomically) and returns what Stats tells clients: `seenAs` when
 * clients see the directory elsewhere (a pod's emptyDir under the node's kubelet directory).
 */
export async function publishShortCircuit(dir: string, workerId: string, pageSize: number, seenAs?: string): Promise<ShortCircuitInfo> {
  const info: ShortCircuitInfo = { dir: seenAs ?? dir, token: randomBytes(16).toString('hex'), pageSize };
  const tmp = join(dir, `.${MARKER}.${process.pid}`);
  await writeFile(tmp, JSON.stringify({ worker: workerId, token: info.token, pageSize }));
  await rename(tmp, join(dir, MARKER));
  return info;
}

/**
 * True when `dir` on this host is the directory a worker published as `info`: its marker holds
 * the same token and it lies on a RAM file system (so reading it never blocks on a disk).
 */
export function verifyShortCircuit(info: ShortCircuitInfo): boolean {
  try {
    const marker = JSON.parse(readFileSync(join(info.dir, MARKER), 'utf8')) as { token?: unknown; pageSize?: unknown };
    return marker.token === info.token && marker.pageSize === info.pageSize && statRamFs(info.dir).ram;
  } catch {
    return false;
  }
}
