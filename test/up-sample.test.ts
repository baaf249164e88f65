// `hoard up` with no arguments (what `npm start` runs): real worker processes, a real FUSE mount, real tools, Ctrl-C.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBytes } from './fuse-helpers.js';
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
});
