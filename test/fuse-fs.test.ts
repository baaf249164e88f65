// The FUSE layer on a real mount, read by real tools, over a folder-backed DataClient.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountHoardFs, type HoardMount } from '../csi/fuse/mount.js';
import { FolderClient, forceUnmount, mountOptions, run, runBytes, sha256 } from './fuse-helpers.js';

const MiB = 1024 * 1024;
let root: string;
let src: string;
let mnt: string;
let client: FolderClient;
let mount: HoardMount;
let big: Buffer;
const small = new Map<string, Buffer>();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hoard-fuse-fs-'));
  src = join(root, 'src');
  mnt = join(root, 'mnt');
  await mkdir(join(src, 'small'), { recursive: true });
  await mkdir(join(src, 'a', 'b', 'c'), { recursive: true });
  big = randomBytes(64 * MiB);
  await writeFile(join(src, 'big.bin'), big);
  for (let i = 0; i < 300; i++) {
    const name = `f${String(i).padStart(3, '0')}.bin`;
    const data = randomBytes(64 * 1024);
    small.set(name, data);
    await writeFile(join(src, 'small', name), data);
  }
  await writeFile(join(src, 'a', 'b', 'c', 'deep.txt'), 'deep\n');
  await writeFile(join(src, 'hello.txt'), 'hello hoard\n');
  await writeFile(join(src, 'denied.txt'), 'secret\n');
  await writeFile(join(src, 'flaky.txt'), 'flaky\n');
  client = new FolderClient(src);
  client.failures.set('/denied.txt', 'PERMISSION_DENIED');
  client.failures.set('/flaky.txt', 'UNAVAILABLE');
  client.capacityBytes = 10 * 1024 * MiB;
  client.usedBytes = 1024 * MiB;
  // The mount point does not exist yet: mountHoardFs creates it.
  mount = await mountHoardFs(mnt, client, {});
});

afterAll(async () => {
  await mount?.unmount();
  await forceUnmount(mnt);
  await rm(root, { recursive: true, force: true });
});

describe('hoard FUSE filesystem', () => {
  it('serves a 64 MiB file byte-exact through cat and sha256sum', async () => {
    const viaCat = await runBytes('sh', ['-c', `cat "${mnt}/big.bin" | sha256sum`]);
    expect(String(viaCat).split(' ')[0]).toBe(sha256(big));
    const direct = await runBytes('sha256sum', [join(mnt, 'big.bin')]);
    expect(String(direct).split(' ')[0]).toBe(sha256(big));
  });

  it('serves 300 small files byte-exact', async () => {
    const out = String(await runBytes('sh', ['-c', `cd "${mnt}/small" && sha256sum *`]));
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(300);
    for (const line of lines) {
      const [hash, name] = line.split(/\s+/);
      expect(hash, name).toBe(sha256(small.get(name!)!));
    }
  });

  it('lists directories with ls, including nested ones and sizes', async () => {
    const top = String(await runBytes('ls', ['-1', mnt])).trim().split('\n');
    expect(top).toEqual(['a', 'big.bin', 'denied.txt', 'flaky.txt', 'hello.txt', 'small']);
    expect(String(await runBytes('ls', [join(mnt, 'small')])).trim().split(/\s+/)).toHaveLength(300);
    expect(String(await runBytes('cat', [join(mnt, 'a/b/c/deep.txt')]))).toBe('deep\n');
    const size = String(await runBytes('stat', ['-c', '%s %F', join(mnt, 'big.bin')])).trim();
    expect(size).toBe(`${64 * MiB} regular file`);
    const dir = String(await runBytes('stat', ['-c', '%F', join(mnt, 'a/b')])).trim();
    expect(dir).toBe('directory');
  });

  it('reads byte ranges with dd skip/count', async () => {
    const mid = await runBytes('dd', [`if=${join(mnt, 'big.bin')}`, 'bs=1M', 'skip=5', 'count=3', 'status=none']);
    expect(sha256(mid)).toBe(sha256(big.subarray(5 * MiB, 8 * MiB)));
    const odd = await runBytes('dd', [`if=${join(mnt, 'big.bin')}`, 'bs=4099', 'skip=12345', 'count=7', 'status=none']);
    expect(sha256(odd)).toBe(sha256(big.subarray(4099 * 12345, 4099 * 12352)));
    const tail = await runBytes('dd', [`if=${join(mnt, 'big.bin')}`, 'bs=1M', 'skip=63', 'count=5', 'status=none']);
    expect(tail.length).toBe(MiB);
    expect(sha256(tail)).toBe(sha256(big.subarray(63 * MiB)));
    const past = await runBytes('dd', [`if=${join(mnt, 'big.bin')}`, 'bs=1M', 'skip=64', 'count=1', 'status=none']);
    expect(past.length).toBe(0);
  });

  it('answers ENOENT for missing paths', async () => {
    const r = await run('cat', [join(mnt, 'nope.txt')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('No such file or directory');
    const l = await run('ls', [join(mnt, 'no/such/dir')]);
    expect(l.stderr).toContain('No such file or directory');
  });

  it('maps data-plane errors: PERMISSION_DENIED -> EACCES, UNAVAILABLE -> EIO', async () => {
    const denied = await run('cat', [join(mnt, 'denied.txt')]);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('Permission denied');
    const flaky = await run('cat', [join(mnt, 'flaky.txt')]);
    expect(flaky.code).not.toBe(0);
    expect(flaky.stderr).toContain('Input/output error');
  });

  it('refuses every write with EROFS', async () => {
    const attempts: [string, string[]][] = [
      ['touch', [join(mnt, 'new.txt')]],
      ['sh', ['-c', `echo x > "${mnt}/hello.txt"`]],
      ['sh', ['-c', `echo x >> "${mnt}/hello.txt"`]],
      ['mkdir', [join(mnt, 'newdir')]],
      ['rm', ['-f', join(mnt, 'hello.txt')]],
      ['rmdir', [join(mnt, 'a/b/c')]],
      ['mv', [join(mnt, 'hello.txt'), join(mnt, 'moved.txt')]],
      ['truncate', ['-s', '0', join(mnt, 'hello.txt')]],
      ['chmod', ['777', join(mnt, 'hello.txt')]],
      ['ln', ['-s', 'hello.txt', join(mnt, 'link')]],
      ['python3', ['-c', `import os; os.setxattr(${JSON.stringify(join(mnt, 'hello.txt'))}, 'user.x', b'1')`]],
    ];
    for (const [cmd, args] of attempts) {
      const r = await run(cmd, args);
      expect(r.code, `${cmd} ${args.join(' ')}`).not.toBe(0);
      expect(r.stderr, `${cmd} ${args.join(' ')}`).toContain('Read-only file system');
    }
    expect(String(await runBytes('cat', [join(mnt, 'hello.txt')]))).toBe('hello hoard\n');
  });

  it('reports cache capacity through statfs (df)', async () => {
    const out = String(await runBytes('stat', ['-f', '-c', '%b %f %S', mnt])).trim().split(' ').map(Number);
    const [blocks, free, bsize] = out as [number, number, number];
    expect(blocks * bsize).toBe(10 * 1024 * MiB);
    expect(free * bsize).toBe(9 * 1024 * MiB);
    expect((await mountOptions(mnt))).toContain('default_permissions');
  });
});
