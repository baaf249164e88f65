// With the kernel page cache kept across opens (--kernel-cache, libfuse auto_cache), an object
// overwritten with different bytes of the same size in the same Last-Modified second must never
// be read as a mix of old and new pages: through a real FUSE mount, real workers and s3rver.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountHoardFs, type HoardMount } from '../csi/fuse/mount.js';
import { createClient, type DataClient } from '../worker/client/index.js';
import { forceUnmount, runBytes } from './fuse-helpers.js';
import { startS3Server, writeS3MountTable, type S3Server } from './support/s3server.js';
import { startWorkers, type WorkerGroup } from './support/workers.js';

const MiB = 1024 * 1024;
const SIZE = 2 * MiB;

describe('kernel page cache across an overwrite of the same size in the same second', () => {
  let dir: string;
  let mnt: string;
  let s3: S3Server;
  let group: WorkerGroup;
  let client: DataClient;
  let mount: HoardMount | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoard-version-mix-'));
    mnt = join(dir, 'mnt');
    s3 = await startS3Server({ buckets: ['ds'] });
    await s3.putObject('ds', 'set/f.bin', randomBytes(SIZE));
    const { mountsFile } = await writeS3MountTable(dir, s3);
    // No metadata caching anywhere, so every open sees the object as it is now: the only cache
    // left to get it wrong is the kernel's.
    group = await startWorkers(1, { mountsFile, cacheRoot: join(dir, 'cache'), mem: '64Mi', disk: '0', pageSize: '256Ki', args: ['--meta-ttl', '0s'] });
    client = createClient({ workers: group.addresses(), metaTtlMs: 0, shortCircuit: false });
    mount = await mountHoardFs(mnt, client, { kernelCache: true, attrTimeoutSec: 0, entryTimeoutSec: 0 });
  });

  afterAll(async () => {
    await mount?.unmount();
    if (mnt) await forceUnmount(mnt);
    await client?.close();
    await group?.stop();
    await s3?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads every version whole: 0 mixes of old and new pages', async () => {
    const file = join(mnt, 's3', 'f.bin');
    let sameSecond = 0;
    let mixes = 0;
    let stale = 0;
    for (let round = 0; round < 16 && sameSecond < 3; round++) {
      // Start early in a second, so both writes below can land in it.
      await sleep(1000 - (Date.now() % 1000) + 20);
      const before = randomBytes(SIZE);
      const after = randomBytes(SIZE);
      await s3.putObject('ds', 'set/f.bin', before);
      // The kernel caches the first half of the old version.
      const [head, statBefore] = await Promise.all([runBytes('dd', [`if=${file}`, 'bs=1M', 'count=1', 'status=none']), client.stat('/s3/f.bin')]);
      const mtimeBefore = statBefore.mtimeMs;
      expect(head.equals(before.subarray(0, MiB))).toBe(true);
      await s3.putObject('ds', 'set/f.bin', after);
      const st = await client.stat('/s3/f.bin');
      if (st.mtimeMs === mtimeBefore && st.size === SIZE) sameSecond++;
      // Whole-file reads: each must be one version, never a mix; the new one once nobody has the file open.
      for (let i = 0; i < 3; i++) {
        const whole = await runBytes('cat', [file]);
        expect(whole.length).toBe(SIZE);
        if (whole.equals(after)) continue;
        if (whole.equals(before)) stale++;
        else mixes++;
      }
    }
    // The two writes must have landed in one second often enough to test anything (a loaded
    // machine can push them apart; the old code mixed in every such round).
    expect(sameSecond).toBeGreaterThanOrEqual(2);
    expect(mixes).toBe(0);
    expect(stale).toBe(0);
  }, 180_000);

  it('while the file is held open, new opens read the version it holds; the next open after the last close reads the new one', async () => {
    const file = join(mnt, 's3', 'f.bin');
    const before = randomBytes(SIZE);
    const after = randomBytes(SIZE);
    await s3.putObject('ds', 'set/f.bin', before);
    expect((await runBytes('cat', [file])).equals(before)).toBe(true);
    // Another process keeps a handle open across the overwrite (as a long-running reader would).
    const holder = spawn('sh', ['-c', 'exec 3< "$1"; sleep 3', 'sh', file], { stdio: 'ignore' });
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    await sleep(500);
    await s3.putObject('ds', 'set/f.bin', after);
    expect((await client.stat('/s3/f.bin')).version).not.toBe('');
    // The kernel's pages are shared by every handle: a new open reads what the open one reads.
    expect((await runBytes('cat', [file])).equals(before)).toBe(true);
    await exited;
    await sleep(200); // the kernel sends the holder's release after its exit
    expect((await runBytes('cat', [file])).equals(after)).toBe(true);
  });
});
