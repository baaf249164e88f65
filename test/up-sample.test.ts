// `hoard up` with no arguments (what `npm start` runs): real worker processes, a real FUSE mount, real tools, Ctrl-C.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBytes, spawnHoard } from './fuse-helpers.js';
import { upHarness } from './up-harness.js';

const h = upHarness();

describe('hoard up', () => {
  it('with no --ufs serves the generated sample dataset, byte-exact', async () => {
    const ready = await h.start(['--cache-dir', join(h.root, 'cache'), '--mount', h.mnt, '--workers', '2']);
    expect(ready.dir).toBe(h.mnt);
    expect(ready.pids).toHaveLength(3);
    const check = String(await runBytes('sh', ['-c', `cd "${h.mnt}/sample" && sha256sum -c MANIFEST.sha256`]));
    expect(check.trim().split('\n').filter((l) => l.endsWith(': OK'))).toHaveLength(21);
    expect(String(await runBytes('cat', [join(h.mnt, 'sample/text/hello.txt')]))).toBe('Hello from Hoard!\n');
    await h.stopAndCheck();
  });

  it('keeps the memory tier on a RAM disk that the mount reads directly, and frees it at exit', async () => {
    const ramDisk = await mkdtemp('/dev/shm/hoard-up-test-');
    await writeFile(join(ramDisk, 'not-hoards.txt'), 'keep me');
    const cacheDir = join(h.root, 'cache');
    await h.start(['--cache-dir', cacheDir, '--mount', h.mnt, '--workers', '2', '--ram-disk', ramDisk]);
    for (const w of ['worker-0', 'worker-1']) expect(existsSync(join(ramDisk, w, 'short-circuit.json')), w).toBe(true);
    const verify = `cd "${h.mnt}/sample" && sha256sum -c MANIFEST.sha256`;
    expect(String(await runBytes('sh', ['-c', verify])).match(/: OK$/gm)).toHaveLength(21);
    // Drop the kernel's copy: the second pass reads the cached pages again, now from the RAM disk.
    await writeFile('/proc/sys/vm/drop_caches', '1');
    expect(String(await runBytes('sh', ['-c', verify])).match(/: OK$/gm)).toHaveLength(21);
    const log = await readFile(join(cacheDir, 'logs', 'mount.log'), 'utf8');
    const direct = log.split('\n').filter((l) => l.includes('directly from its RAM disk'));
    expect(direct.map((l) => (JSON.parse(l) as { worker: string }).worker).sort()).toEqual(['worker-0', 'worker-1']);
    await h.stopAndCheck();
    // The workers' pages are gone; what else the user keeps in that directory is not.
    for (const w of ['worker-0', 'worker-1']) expect(existsSync(join(ramDisk, w)), w).toBe(false);
    expect(await readFile(join(ramDisk, 'not-hoards.txt'), 'utf8')).toBe('keep me');
    await rm(ramDisk, { recursive: true, force: true });
  });

  it('refuses a --ram-disk that is not on a RAM file system, naming the flag, before starting anything', async () => {
    const onDisk = join(process.cwd(), `.hoard-up-not-ram-${process.pid}`);
    try {
      const up = spawnHoard(['up', '--ram-disk', onDisk, '--cache-dir', join(h.root, 'cache'), '--mount', h.mnt]);
      expect((await up.exited).code).toBe(1);
      expect(up.stderr()).toMatch(/--ram-disk: .* is not on tmpfs or ramfs .*use a directory under \/dev\/shm, or --no-ram-disk/);
      expect(existsSync(join(h.root, 'cache', 'logs'))).toBe(false); // no worker was started
    } finally {
      await rm(onDisk, { recursive: true, force: true });
    }
  });
});
