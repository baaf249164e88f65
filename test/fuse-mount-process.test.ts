// `hoard mount` as its own process: ready line, clean unmount on signals, dead-mount recovery.
// Its worker is unreachable here on purpose, so reads take the client's direct-to-storage
// fallback; the end-to-end path through real workers is in up-*.test.ts.
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { forceUnmount, killHard, mountOptions, mountsContain, run, runBytes, spawnHoard, type HoardProcess } from './fuse-helpers.js';

let root: string;
let mnt: string;
let mountsFile: string;
const procs: HoardProcess[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'hoard-fuse-proc-'));
  mnt = join(root, 'mnt');
  await mkdir(join(root, 'src', 'd'), { recursive: true });
  await writeFile(join(root, 'src', 'd', 'a.txt'), 'hello from the source\n');
  mountsFile = join(root, 'mounts.json');
  await writeFile(mountsFile, JSON.stringify({ mounts: [{ name: 'data', uri: `file://${join(root, 'src')}` }] }));
});

afterEach(async () => {
  for (const p of procs.splice(0)) await killHard(p);
  await forceUnmount(mnt);
  await rm(root, { recursive: true, force: true });
});

function startMount(extra: string[] = []): HoardProcess {
  // Port 1 on loopback refuses connections: the worker is "down".
  const p = spawnHoard(['mount', mnt, '--workers', 'w0=127.0.0.1:1', '--mounts-file', mountsFile, ...extra]);
  procs.push(p);
  return p;
}

describe('hoard mount', () => {
  it('prints the mounted line, serves reads, and unmounts cleanly on SIGTERM', async () => {
    const p = startMount();
    const ready = await p.waitFor('mounted');
    expect(ready.dir).toBe(mnt);
    expect(await mountsContain(mnt)).toBe(true);
    expect(String(await runBytes('cat', [join(mnt, 'data/d/a.txt')]))).toBe('hello from the source\n');
    expect(String(await runBytes('ls', [mnt])).trim()).toBe('data');
    p.proc.kill('SIGTERM');
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(await mountsContain(mnt)).toBe(false);
  });

  it('unmounts cleanly on SIGINT with kernel flags from the command line', async () => {
    const p = startMount(['--read-only', '--allow-other', '--kernel-cache', '--attr-timeout', '0', '--entry-timeout', '0', '--direct-io']);
    await p.waitFor('mounted');
    expect(await mountOptions(mnt)).toEqual(expect.arrayContaining(['ro', 'allow_other']));
    expect(String(await runBytes('cat', [join(mnt, 'data/d/a.txt')]))).toBe('hello from the source\n');
    p.proc.kill('SIGINT');
    expect((await p.exited).code).toBe(0);
    expect(await mountsContain(mnt)).toBe(false);
  });

  it('cleans a dead mount left by a killed process at the next start', async () => {
    const first = startMount();
    await first.waitFor('mounted');
    first.proc.kill('SIGKILL');
    await first.exited;
    // The kernel mount outlives its server: every access now fails with ENOTCONN.
    expect(await mountsContain(mnt)).toBe(true);
    const dead = await run('stat', [mnt]);
    expect(dead.stderr).toContain('Transport endpoint is not connected');

    const second = startMount();
    await second.waitFor('mounted');
    expect(second.stderr()).toContain('found a dead mount');
    expect(String(await runBytes('cat', [join(mnt, 'data/d/a.txt')]))).toBe('hello from the source\n');
    second.proc.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    expect(await mountsContain(mnt)).toBe(false);
    expect((await stat(mnt)).isDirectory()).toBe(true);
  });

  it('refuses a second mount on a live mount point with a clear error', async () => {
    const first = startMount();
    await first.waitFor('mounted');
    const second = startMount();
    const { code } = await second.exited;
    expect(code).toBe(1);
    expect(second.stderr()).toContain('already a live mount point');
    expect(String(await runBytes('cat', [join(mnt, 'data/d/a.txt')]))).toBe('hello from the source\n');
  });

  it('rejects bad flags naming the flag', async () => {
    const noWorkers = spawnHoard(['mount', mnt, '--mounts-file', mountsFile]);
    procs.push(noWorkers);
    expect((await noWorkers.exited).code).toBe(1);
    expect(noWorkers.stderr()).toContain('--workers');
    const badTimeout = startMount(['--attr-timeout', 'soon']);
    expect((await badTimeout.exited).code).toBe(1);
    expect(badTimeout.stderr()).toContain('--attr-timeout');
    const badReadAhead = startMount(['--read-ahead-kb', 'lots']);
    expect((await badReadAhead.exited).code).toBe(1);
    expect(badReadAhead.stderr()).toContain('--read-ahead-kb: "lots" must be a whole number of KiB');
    expect(await mountsContain(mnt)).toBe(false);
  });
});
