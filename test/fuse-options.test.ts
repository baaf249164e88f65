// Mount options observed through a real mount: what reaches the data plane, and what the kernel shows.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mountHoardFs, type HoardFsOptions, type HoardMount } from '../csi/fuse/mount.js';
import { createHoardOps } from '../csi/fuse/ops.js';
import { Errno } from '../csi/fuse/errno.js';
import { DEFAULT_READ_AHEAD_KB, mountDevice } from '../csi/fuse/read-ahead.js';
import type { FileInfo } from '../worker/client/types.js';
import { FolderClient, forceUnmount, mountOptions, mountsContain, run, runBytes, sha256 } from './fuse-helpers.js';

const MiB = 1024 * 1024;
let root: string;
let src: string;
let mnt: string;
let client: FolderClient;
let mount: HoardMount | undefined;
const data = Buffer.from(Uint8Array.from({ length: 2 * MiB }, (_, i) => (i * 31 + 7) & 0xff));

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'hoard-fuse-opts-'));
  src = join(root, 'src');
  mnt = join(root, 'mnt');
  await mkdir(src);
  await writeFile(join(src, 'data.bin'), data);
  client = new FolderClient(src);
});

afterEach(async () => {
  await mount?.unmount();
  mount = undefined;
  await forceUnmount(mnt);
  await rm(root, { recursive: true, force: true });
});

async function mountWith(opts: HoardFsOptions): Promise<void> {
  mount = await mountHoardFs(mnt, client, opts);
}

describe('mount options', () => {
  it('direct_io hands the caller\'s exact read sizes to the data plane', async () => {
    await mountWith({ directIO: true });
    const out = await runBytes('dd', [`if=${join(mnt, 'data.bin')}`, 'bs=1000', 'skip=3', 'count=5', 'status=none']);
    expect(sha256(out)).toBe(sha256(data.subarray(3000, 8000)));
    expect(client.reads.map((r) => r.offset)).toEqual([3000, 4000, 5000, 6000, 7000]);
    expect(client.reads.every((r) => r.length === 1000)).toBe(true);
  });

  it('without direct_io reads arrive page-aligned from the kernel', async () => {
    await mountWith({});
    const out = await runBytes('dd', [`if=${join(mnt, 'data.bin')}`, 'bs=1000', 'skip=3', 'count=5', 'status=none']);
    expect(sha256(out)).toBe(sha256(data.subarray(3000, 8000)));
    expect(client.reads.length).toBeGreaterThan(0);
    expect(client.reads.every((r) => r.offset % 4096 === 0)).toBe(true);
  });

  it('many files read at once over a slow data plane still arrive as whole-file reads, not 4 KiB pages', async () => {
    for (let i = 0; i < 48; i++) await writeFile(join(src, `s${i}.bin`), data.subarray(i, i + 64 * 1024));
    const slow = new SlowClient(src, 40);
    mount = await mountHoardFs(mnt, slow, {});
    // 24 readers in parallel, as a DataLoader's workers would: more than the kernel's default
    // congestion threshold, each read waiting 40 ms on the "worker".
    const files = Array.from({ length: 48 }, (_, i) => join(mnt, `s${i}.bin`));
    await run('sh', ['-c', 'printf "%s\\n" "$@" | xargs -P 24 -n 1 cat > /dev/null', 'sh', ...files]);
    const reads = slow.reads.filter((r) => r.path.startsWith('/s'));
    expect(reads.length).toBe(48);
    expect(reads.every((r) => r.offset === 0 && r.length >= 64 * 1024)).toBe(true);
  });

  it('sets the mount\'s kernel read-ahead (1 MiB by default, 0 keeps the kernel\'s)', async () => {
    await mountWith({});
    const dev = await mountDevice(mnt);
    expect(dev).toMatch(/^\d+:\d+$/);
    const readAhead = async () => Number((await readFile(`/sys/class/bdi/${dev}/read_ahead_kb`, 'utf8')).trim());
    expect(await readAhead()).toBe(DEFAULT_READ_AHEAD_KB);
    await mount!.unmount();
    await mountWith({ readAheadKb: 0 });
    expect(await readAhead()).toBe(128);
    await mount!.unmount();
    await mountWith({ readAheadKb: 4096 });
    expect(Number((await readFile(`/sys/class/bdi/${await mountDevice(mnt)}/read_ahead_kb`, 'utf8')).trim())).toBe(4096);
    // Reads stay exact with many 128 KiB reads in flight at once.
    expect(sha256(await runBytes('cat', [join(mnt, 'data.bin')]))).toBe(sha256(data));
  });

  it('kernelCache keeps pages across opens; without it every open reads through again', async () => {
    await mountWith({ kernelCache: true });
    const file = join(mnt, 'data.bin');
    expect(sha256(await runBytes('cat', [file]))).toBe(sha256(data));
    const first = client.reads.length;
    expect(first).toBeGreaterThan(0);
    expect(sha256(await runBytes('cat', [file]))).toBe(sha256(data));
    expect(client.reads.length).toBe(first);
    await mount!.unmount();

    await mountWith({ kernelCache: false });
    client.reads.length = 0;
    await runBytes('cat', [file]);
    const once = client.reads.length;
    await runBytes('cat', [file]);
    expect(client.reads.length).toBeGreaterThan(once);
  });

  it('readOnly and allowOther show up as kernel mount flags', async () => {
    await mountWith({ readOnly: true, allowOther: true, fsName: 'hoard-test' });
    const flags = await mountOptions(mnt);
    expect(flags).toContain('ro');
    expect(flags).toContain('allow_other');
    const r = await run('touch', [join(mnt, 'x')]);
    expect(r.stderr).toContain('Read-only file system');
    const mounts = await readFile('/proc/mounts', 'utf8');
    expect(mounts).toContain(`hoard-test ${mnt} fuse.hoard`);
  });

  it('attr/entry timeout 0 shows source changes on the next stat', async () => {
    await mountWith({ attrTimeoutSec: 0, entryTimeoutSec: 0 });
    const file = join(mnt, 'data.bin');
    expect(String(await runBytes('stat', ['-c', '%s', file])).trim()).toBe(String(2 * MiB));
    await writeFile(join(src, 'data.bin'), Buffer.alloc(1234, 1));
    expect(String(await runBytes('stat', ['-c', '%s', file])).trim()).toBe('1234');
    expect((await run('stat', [join(mnt, 'later.txt')])).code).not.toBe(0);
    await writeFile(join(src, 'later.txt'), 'now here');
    expect(String(await runBytes('cat', [join(mnt, 'later.txt')]))).toBe('now here');
  });

  it('unmount leaves nothing in /proc/mounts and may be called twice', async () => {
    await mountWith({});
    expect(await mountsContain(mnt)).toBe(true);
    await mount!.unmount();
    await mount!.unmount();
    expect(await mountsContain(mnt)).toBe(false);
  });

  it('refuses to mount over a live mount', async () => {
    await mountWith({});
    await expect(mountHoardFs(mnt, client, {})).rejects.toThrow(/already a live mount point/);
  });

  it('rejects bad options naming the field', async () => {
    await expect(mountHoardFs(mnt, client, { attrTimeoutSec: -1 })).rejects.toThrow(/attrTimeoutSec/);
    expect(await mountsContain(mnt)).toBe(false);
  });
});

describe('file handles', () => {
  it('every read of a handle asks for the version seen at open, which other opens share until the last close', async () => {
    await writeFile(join(src, 'v.txt'), 'version one');
    const { ops } = createHoardOps({ client, uid: 0, gid: 0 });
    const fh = await new Promise<number>((ok, fail) => ops.open('/v.txt', 0, (err, fd) => (err ? fail(new Error(String(err))) : ok(fd!))));
    const openVersion = (await client.stat('/v.txt')).version;
    await new Promise((r) => setTimeout(r, 20));
    await writeFile(join(src, 'v.txt'), 'version two, longer');
    const buf = Buffer.alloc(64);
    const result = await new Promise<number>((ok) => ops.read('/v.txt', fh, buf, 64, 0, ok));
    // The source changed under the open handle: the read fails instead of mixing versions.
    expect(result).toBe(Errno.EIO);
    expect(client.reads.at(-1)).toMatchObject({ path: '/v.txt', offset: 0, version: openVersion });

    // While fh is open, another open reads the version fh reads: the kernel shares one page
    // cache between the handles of a file, so two versions at once could mix in it.
    const same = await new Promise<number>((ok) => ops.open('/v.txt', 0, (_e, fd) => ok(fd!)));
    expect(await new Promise<number>((ok) => ops.read('/v.txt', same, buf, 64, 0, ok))).toBe(Errno.EIO);
    expect(client.reads.at(-1)).toMatchObject({ path: '/v.txt', version: openVersion });
    await new Promise((ok) => ops.release('/v.txt', same, ok));
    await new Promise((ok) => ops.release('/v.txt', fh, ok));

    // After the last close, the next open reads the new version.
    const fh2 = await new Promise<number>((ok) => ops.open('/v.txt', 0, (_e, fd) => ok(fd!)));
    expect(fh2).not.toBe(fh);
    const n = await new Promise<number>((ok) => ops.read('/v.txt', fh2, buf, 64, 0, ok));
    expect(buf.subarray(0, n).toString()).toBe('version two, longer');
    await new Promise((ok) => ops.release('/v.txt', fh2, ok));
    expect(await new Promise<number>((ok) => ops.read('/v.txt', fh2, buf, 64, 0, ok))).toBe(Errno.EBADF);
  });

  it('open for writing is EROFS, open of a directory is EISDIR', async () => {
    const { ops } = createHoardOps({ client, uid: 0, gid: 0 });
    const openErr = (path: string, flags: number) => new Promise<number>((ok) => ops.open(path, flags, (err) => ok(err)));
    expect(await openErr('/data.bin', 1)).toBe(Errno.EROFS);
    expect(await openErr('/data.bin', 2)).toBe(Errno.EROFS);
    expect(await openErr('/', 0)).toBe(Errno.EISDIR);
    expect(await openErr('/missing', 0)).toBe(Errno.ENOENT);
  });
});

/** A FolderClient whose every read takes `delayMs`, like a worker round trip under load. */
class SlowClient extends FolderClient {
  constructor(root: string, private readonly delayMs: number) {
    super(root);
  }

  override async read(path: string, offset: number, length: number, info?: FileInfo): Promise<Buffer> {
    await new Promise((r) => setTimeout(r, this.delayMs));
    return super.read(path, offset, length, info);
  }
}
