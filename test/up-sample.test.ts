// `hoard up` with no arguments (what `npm start` runs): real worker processes, a real FUSE mount, real tools, Ctrl-C.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alive, forceUnmount, killHard, mountsContain, runBytes, spawnHoard, type HoardProcess } from './fuse-helpers.js';

let root: string;
let mnt: string;
let up: HoardProcess | undefined;
let pids: number[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'hoard-up-'));
  mnt = join(root, 'mnt');
});

afterEach(async () => {
  await killHard(up);
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  pids = [];
  await forceUnmount(mnt);
  await rm(root, { recursive: true, force: true });
});

async function stopAndCheck(): Promise<void> {
  up!.proc.kill('SIGINT');
  expect((await up!.exited).code).toBe(0);
  expect(await mountsContain(mnt)).toBe(false);
  for (const pid of pids) expect(alive(pid), `child ${pid}`).toBe(false);
}

describe('hoard up', () => {
  it('with no --ufs serves the generated sample dataset, byte-exact', async () => {
    up = spawnHoard(['up', '--cache-dir', join(root, 'cache'), '--mount', mnt, '--workers', '2']);
    const ready = await up.waitFor('mounted', 45_000);
    pids = ready.pids as number[];
    expect(ready.dir).toBe(mnt);
    expect(pids).toHaveLength(3);
    const check = String(await runBytes('sh', ['-c', `cd "${mnt}/sample" && sha256sum -c MANIFEST.sha256`]));
    expect(check.trim().split('\n').filter((l) => l.endsWith(': OK'))).toHaveLength(21);
    expect(String(await runBytes('cat', [join(mnt, 'sample/text/hello.txt')]))).toBe('Hello from Hoard!\n');
    await stopAndCheck();
  });
});
