import { spawnSync } from 'node:child_process';
import { open, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Drops the kernel page cache so a pass measures the file system, not RAM. Uses the global
 * drop_caches where permitted (root), else per-file fadvise(DONTNEED) through `dd iflag=nocache`.
 */
export async function dropPageCache(files: string[]): Promise<void> {
  spawnSync('sync');
  try {
    await writeFile('/proc/sys/vm/drop_caches', '3');
    return;
  } catch {
    for (const f of files) spawnSync('dd', [`if=${f}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
  }
}

export interface Pass {
  bytes: number;
  seconds: number;
}

export function mibPerSec(p: Pass): number {
  return p.bytes / 2 ** 20 / p.seconds;
}

/** Sequential read of one file with 1 MiB requests, as `dd bs=1M` or a data loader would. */
export async function readBig(file: string): Promise<Pass> {
  const fh = await open(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  const t0 = performance.now();
  let bytes = 0;
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, bytes);
      if (bytesRead === 0) break;
      bytes += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return { bytes, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Lists a folder and reads every file in it with a few in flight, as a PyTorch DataLoader's
 * workers would. The listing is timed too: some file systems pay for it (a HEAD per entry).
 */
export async function readMany(dir: string, concurrency = 16): Promise<Pass> {
  const t0 = performance.now();
  const names = (await readdir(dir)).sort();
  let bytes = 0;
  let next = 0;
  const lane = async () => {
    const buf = Buffer.allocUnsafe(1 << 20);
    while (next < names.length) {
      const fh = await open(join(dir, names[next++]!), 'r');
      try {
        for (let pos = 0; ; ) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) break;
          pos += bytesRead;
          bytes += bytesRead;
        }
      } finally {
        await fh.close();
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { bytes, seconds: (performance.now() - t0) / 1000 };
}
