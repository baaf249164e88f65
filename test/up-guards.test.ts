// `hoard up` guarding its user: a worker that dies is restarted while the mount keeps reading.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alive, mountsContain, runBytes, sha256, spawnHoard } from './fuse-helpers.js';
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
