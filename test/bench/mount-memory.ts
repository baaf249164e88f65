// The memory of `hoard mount` under a soak: 2 workers whose cache is smaller than the data, 4
// readers reading whole files at random for HOARD_BENCH_SOAK_S seconds (default 120), the
// kernel's copy of each file dropped after it is read so every read reaches the mount. The
// mount's RSS is sampled from /proc twice a second; its peak is printed against the documented
// budget (csi/fuse/memory-budget.ts).
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mountBudgetBytes } from '../../csi/fuse/memory-budget.js';
import { mountHoard, type S3Target } from './mounts.js';
import { readBig } from './readers.js';

const MiB = 2 ** 20;

export interface SoakFigures {
  seconds: number;
  dataMiB: number;
  cacheMiB: number;
  filesRead: number;
  mibRead: number;
  /** RSS after the first 10 s (warm-up), at the end, and the highest sample. */
  earlyRssMiB: number;
  endRssMiB: number;
  peakRssMiB: number;
  budgetMiB: number;
}

async function rssBytes(pid: number): Promise<number | undefined> {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export async function mountMemorySoak(work: string, s3: S3Target, log: (msg: string) => void): Promise<SoakFigures> {
  const seconds = Number(process.env.HOARD_BENCH_SOAK_S ?? 120);
  const files = Number(process.env.HOARD_BENCH_SOAK_FILES ?? 32);
  const fileMiB = Number(process.env.HOARD_BENCH_SOAK_FILE_MIB ?? 8);
  const memPerWorker = 48;
  const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
  log(`soak: seeding ${files} x ${fileMiB} MiB under soak/`);
  const body = Buffer.alloc(fileMiB * MiB);
  for (let i = 0; i < files; i++) {
    for (let at = 0; at < body.length; at += 4096) body.writeUInt32LE((i * 2654435761 + at) >>> 0, at);
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `soak/f${i}.bin`, Body: body }));
  }
  client.destroy();
  const m = await mountHoard(work, s3, { name: 'hoard-soak', workers: 2, mem: `${memPerWorker}Mi`, disk: '0' });
  try {
    const pid = m.pid!;
    const root = join(m.root, 'soak');
    const samples: { at: number; rss: number }[] = [];
    const t0 = Date.now();
    const until = t0 + seconds * 1000;
    const sampler = setInterval(() => {
      void rssBytes(pid).then((rss) => rss !== undefined && samples.push({ at: Date.now() - t0, rss }));
    }, 500);
    let filesRead = 0;
    let bytes = 0;
    let seed = 12345;
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % files;
    };
    const lane = async (): Promise<void> => {
      while (Date.now() < until) {
        const f = join(root, `f${next()}.bin`);
        bytes += (await readBig(f)).bytes;
        filesRead++;
        // Drop the kernel's copy, so the next read of this file reaches the mount again.
        spawnSync('dd', [`if=${f}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
      }
    };
    await Promise.all(Array.from({ length: 4 }, lane));
    clearInterval(sampler);
    const early = samples.filter((s) => s.at <= 10_000);
    const peak = Math.max(...samples.map((s) => s.rss));
    return {
      seconds,
      dataMiB: files * fileMiB,
      cacheMiB: 2 * memPerWorker,
      filesRead,
      mibRead: bytes / MiB,
      earlyRssMiB: (early.length ? Math.max(...early.map((s) => s.rss)) : 0) / MiB,
      endRssMiB: (samples.at(-1)?.rss ?? 0) / MiB,
      peakRssMiB: peak / MiB,
      budgetMiB: mountBudgetBytes() / MiB,
    };
  } finally {
    await m.stop();
  }
}
