// `hoard up`'s quotas against what the machine has: a cache the machine cannot hold is refused
// up front, naming the flag, the request and what there is; one it can hold only partly is a warning.
import { statfsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { dirname } from 'node:path';
import { formatSize } from '../../lib/units.js';

export interface QuotaRequest {
  workers: number;
  mem: number;
  disk: number;
  cacheDir: string;
  /** The RAM disk the memory tier goes to, and whether the user named it (--ram-disk). */
  ramDisk?: { dir: string; freeBytes: number; chosen: boolean };
  /** /dev/shm had too little room, so the memory tier stays in the workers' heap. */
  shmFreeBytes?: number;
}

export interface Machine {
  ramBytes: number;
  /** Size and free bytes of the file system holding `dir` (or its nearest existing parent). */
  disk(dir: string): { totalBytes: number; freeBytes: number };
}

export const thisMachine: Machine = {
  ramBytes: totalmem(),
  disk(dir) {
    for (let d = dir; ; d = dirname(d)) {
      try {
        const st = statfsSync(d);
        return { totalBytes: Number(st.blocks) * Number(st.bsize), freeBytes: Number(st.bavail) * Number(st.bsize) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || d === dirname(d)) throw err;
      }
    }
  },
};

/** Throws an Error naming the flag when the machine cannot hold the quota; returns warnings otherwise. */
export function checkQuotas(q: QuotaRequest, machine: Machine = thisMachine): string[] {
  const warnings: string[] = [];
  const per = (n: number): string => `${q.workers} worker(s) x ${formatSize(n)} = ${formatSize(q.workers * n)}`;
  const fit = (bytes: number): string => formatSize(Math.max(0, Math.floor(bytes / q.workers / 2 ** 20)) * 2 ** 20);
  const mem = q.workers * q.mem;
  if (mem > machine.ramBytes) {
    throw new Error(`--mem ${formatSize(q.mem)}: ${per(q.mem)} of memory cache, but this machine has ${formatSize(machine.ramBytes)} of RAM; use at most --mem ${fit(machine.ramBytes / 2)} (half the RAM over ${q.workers} worker(s)) or fewer --workers`);
  }
  if (q.ramDisk?.chosen && mem > q.ramDisk.freeBytes) {
    throw new Error(`--mem ${formatSize(q.mem)}: ${per(q.mem)} of memory cache, but the RAM disk ${q.ramDisk.dir} (--ram-disk) has ${formatSize(q.ramDisk.freeBytes)} free; use at most --mem ${fit(q.ramDisk.freeBytes)}, a larger tmpfs, or --no-ram-disk`);
  }
  if (q.shmFreeBytes !== undefined && mem > q.shmFreeBytes) {
    warnings.push(`--mem ${formatSize(q.mem)}: ${per(q.mem)} does not fit in /dev/shm (${formatSize(q.shmFreeBytes)} free), so the memory cache stays in the workers' heap and every read goes through a worker; use --mem ${fit(q.shmFreeBytes)} to keep it on the RAM disk`);
  }
  if (mem > machine.ramBytes / 2) {
    warnings.push(`--mem ${formatSize(q.mem)}: ${per(q.mem)} is more than half of this machine's ${formatSize(machine.ramBytes)} of RAM; the machine may swap or kill processes when the cache fills`);
  }
  if (q.disk > 0) {
    const d = machine.disk(q.cacheDir);
    const want = q.workers * q.disk;
    if (want > d.totalBytes) {
      throw new Error(`--disk ${formatSize(q.disk)}: ${per(q.disk)} of disk cache, but the file system of --cache-dir ${q.cacheDir} holds ${formatSize(d.totalBytes)} in all (${formatSize(d.freeBytes)} free); use at most --disk ${fit(d.freeBytes)} or another --cache-dir`);
    }
    // Pages a previous run left there count against free space but are reused, so more than the
    // free space is not wrong: say it.
    if (want > d.freeBytes) {
      warnings.push(`--disk ${formatSize(q.disk)}: ${per(q.disk)} of disk cache, but the file system of --cache-dir ${q.cacheDir} has ${formatSize(d.freeBytes)} free; the cache stops growing when the disk is full`);
    }
  }
  return warnings;
}
