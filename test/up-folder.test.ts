// `hoard up` end to end on a folder UFS: real worker processes, a real FUSE mount, real tools, Ctrl-C.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBytes, sha256, spawnHoard } from './fuse-helpers.js';
import { upHarness } from './up-harness.js';

const MiB = 1024 * 1024;
const h = upHarness();

describe('hoard up', () => {
  it('caches a folder: large and small files through workers, hoard load, clean Ctrl-C', async () => {
    const src = join(h.root, 'src');
    await mkdir(join(src, 'small'), { recursive: true });
    const big = randomBytes(48 * MiB);
    await writeFile(join(src, 'big.bin'), big);
    const smallHashes: string[] = [];
    for (let i = 0; i < 50; i++) {
      const b = randomBytes(64 * 1024);
      smallHashes.push(sha256(b));
      await writeFile(join(src, 'small', `f${String(i).padStart(2, '0')}`), b);
    }
    const ready = await h.start(['--ufs', `file://${src}`, '--cache-dir', join(h.root, 'cache'), '--mount', h.mnt, '--workers', '2', '--mem', '64Mi', '--disk', '256Mi']);

    const load = spawnHoard(['load', '/data', '--workers', (ready.workers as string[]).join(','), '--json']);
    const done = await load.waitFor('done', 45_000);
    expect((await load.exited).code).toBe(0);
    expect(done).toMatchObject({ filesDone: 51, filesTotal: 51, bytesDone: 48 * MiB + 50 * 64 * 1024, failures: 0 });

    const bigHash = String(await runBytes('sha256sum', [join(h.mnt, 'data/big.bin')])).split(' ')[0];
    expect(bigHash).toBe(sha256(big));
    const range = await runBytes('dd', [`if=${join(h.mnt, 'data/big.bin')}`, 'bs=1M', 'skip=7', 'count=2', 'status=none']);
    expect(sha256(range)).toBe(sha256(big.subarray(7 * MiB, 9 * MiB)));
    const lines = String(await runBytes('sh', ['-c', `cd "${h.mnt}/data/small" && sha256sum *`])).trim().split('\n');
    expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(smallHashes);
    await h.stopAndCheck();
  });

  it('hoard load exits non-zero and reports failed paths', async () => {
    const src = join(h.root, 'src');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'a.txt'), 'a');
    const ready = await h.start(['--ufs', `file://${src}`, '--cache-dir', join(h.root, 'cache'), '--mount', h.mnt, '--workers', '1']);
    const load = spawnHoard(['load', '/data/a.txt', '/data/missing.txt', '--workers', (ready.workers as string[]).join(',')]);
    const done = await load.waitFor('done', 30_000);
    expect((await load.exited).code).toBe(1);
    expect(done).toMatchObject({ failures: 1, failedPaths: ['/data/missing.txt'] });
    await h.stopAndCheck();
  });
});
