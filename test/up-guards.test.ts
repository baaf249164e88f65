// `hoard up` guarding its user: a worker that dies is restarted while the mount keeps reading.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alive, mountsContain, runBytes, sha256, spawnHoard } from './fuse-helpers.js';
import { checkQuotas } from '../bin/commands/up-quotas.js';
import { formatSize } from '../lib/units.js';
import { upHarness } from './up-harness.js';

const h = upHarness();

async function folder(files: number, bytes: number): Promise<{ src: string; hashes: string[] }> {
  const src = join(h.root, 'src');
  await mkdir(src, { recursive: true });
  const hashes: string[] = [];
  for (let i = 0; i < files; i++) {
    const b = randomBytes(bytes);
    hashes.push(sha256(b));
    await writeFile(join(src, `f${String(i).padStart(2, '0')}`), b);
  }
  return { src, hashes };
}

async function readAll(dir: string): Promise<string[]> {
  const out = String(await runBytes('sh', ['-c', `cd "${dir}" && sha256sum *`])).trim().split('\n');
  return out.map((l) => l.split(/\s+/)[0]!);
}

describe('hoard up supervises its workers', () => {
  it('restarts a SIGKILLed worker on its ports, logged as JSON, while the mount keeps reading', async () => {
    const { src, hashes } = await folder(20, 256 * 1024);
    // Every read goes through a worker: no RAM disk, no kernel cache.
    const ready = await h.start(['--ufs', `file://${src}`, '--cache-dir', join(h.root, 'cache'), '--mount', h.mnt, '--workers', '2', '--mem', '32Mi', '--disk', '0', '--no-ram-disk', '--no-kernel-cache']);
    const data = join(h.mnt, 'data');
    expect(await readAll(data)).toEqual(hashes);
    const victim = (ready.pids as number[])[0]!;
    process.kill(victim, 'SIGKILL');
    // Reads go on while the worker is down and while it comes back.
    let rounds = 0;
    const restarted = h.up.waitFor('worker-restarted', 30_000);
    let back: Record<string, unknown> | undefined;
    void restarted.then((e) => (back = e));
    while (back === undefined || rounds < 3) {
      expect(await readAll(data)).toEqual(hashes);
      rounds++;
      if (rounds > 200) throw new Error('no worker-restarted event');
    }
    const pid = back.pid as number;
    expect(pid).not.toBe(victim);
    expect(alive(pid)).toBe(true);
    expect(await mountsContain(h.mnt)).toBe(true);
    expect(await readAll(data)).toEqual(hashes);
    // The restart is logged as pino JSON on stderr.
    const lines = h.up.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.msg === 'worker exited unexpectedly; restarting it')).toMatchObject({ component: 'up', workerPid: victim, code: 128, restartInMs: expect.any(Number) });
    expect(lines.find((l) => l.msg === 'worker restarted')).toMatchObject({ worker: expect.stringMatching(/^worker-\d$/), workerPid: pid });
    await h.stopAndCheck();
    expect(alive(pid)).toBe(false);
  }, 90_000);
});

describe('hoard up never unmounts what it did not mount', () => {
  it('a second hoard up on a live mount refuses at once and leaves the first one mounted', async () => {
    const { src, hashes } = await folder(3, 64 * 1024);
    await h.start(['--ufs', `file://${src}`, '--cache-dir', join(h.root, 'cache'), '--mount', h.mnt, '--workers', '1', '--mem', '16Mi', '--disk', '0']);
    const data = join(h.mnt, 'data');
    expect(await readAll(data)).toEqual(hashes);
    const second = spawnHoard(['up', '--ufs', `file://${src}`, '--cache-dir', join(h.root, 'cache2'), '--mount', h.mnt, '--workers', '1', '--mem', '16Mi', '--disk', '0']);
    const { code } = await second.exited;
    expect(code).toBe(1);
    expect(second.stderr()).toContain('is already a live mount point');
    expect(second.stderr()).not.toContain('unmounted');
    expect(await mountsContain(h.mnt)).toBe(true);
    expect(await readAll(data)).toEqual(hashes);
    await h.stopAndCheck();
  }, 90_000);
});

describe('hoard up refuses quotas the machine cannot hold', () => {
  const GiB = 2 ** 30;
  it('--mem beyond RAM and --disk beyond the disk exit 1 naming the flag, the request and what there is', async () => {
    const ram = totalmem();
    const mem = spawnHoard(['up', '--cache-dir', join(h.root, 'cache'), '--mount', h.mnt, '--workers', '2', '--mem', '1Ti']);
    expect((await mem.exited).code).toBe(1);
    expect(mem.stderr()).toContain(`--mem 1.00TiB: 2 worker(s) x 1.00TiB = 2.00TiB of memory cache, but this machine has ${formatSize(ram)} of RAM`);
    const disk = spawnHoard(['up', '--cache-dir', join(h.root, 'cache'), '--mount', h.mnt, '--workers', '2', '--mem', '16Mi', '--disk', '10Pi']);
    expect((await disk.exited).code).toBe(1);
    expect(disk.stderr()).toMatch(/--disk 10\.00PiB: 2 worker\(s\) x 10\.00PiB = 20\.00PiB of disk cache, but the file system of --cache-dir \S+ holds [\d.]+[KMGT]iB in all \([\d.]+[KMGT]iB free\); use at most --disk/);
    expect(await mountsContain(h.mnt)).toBe(false);
  }, 60_000);

  it('warns where refusing would be wrong: past free disk space, past /dev/shm, past half the RAM', () => {
    const machine = { ramBytes: 16 * GiB, disk: () => ({ totalBytes: 500 * GiB, freeBytes: 100 * GiB }) };
    expect(checkQuotas({ workers: 2, mem: GiB, disk: 10 * GiB, cacheDir: '/c' }, machine)).toEqual([]);
    const w = checkQuotas({ workers: 2, mem: 5 * GiB, disk: 200 * GiB, cacheDir: '/c', shmFreeBytes: 8 * GiB }, machine);
    expect(w).toHaveLength(3);
    expect(w[0]).toMatch(/^--mem 5\.00GiB: .*does not fit in \/dev\/shm \(8\.00GiB free\), so the memory cache stays in the workers' heap/);
    expect(w[1]).toMatch(/more than half of this machine's 16\.00GiB of RAM/);
    expect(w[2]).toMatch(/^--disk 200\.00GiB: 2 worker\(s\) x 200\.00GiB = 400\.00GiB of disk cache, but the file system of --cache-dir \/c has 100\.00GiB free/);
    expect(() => checkQuotas({ workers: 1, mem: GiB, disk: 0, cacheDir: '/c', ramDisk: { dir: '/dev/shm/x', freeBytes: GiB / 2, chosen: true } }, machine)).toThrow(/--ram-disk\) has 512\.00MiB free/);
  });
});
