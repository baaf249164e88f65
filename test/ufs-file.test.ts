import { chmod, mkdir, mkdtemp, rm, symlink, writeFile, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUfs } from '../worker/ufs/factory.js';
import { FileUfs } from '../worker/ufs/file.js';
import { bytes, drain, errorCode } from './support/ufs-helpers.js';

let base: string;
let root: string;
let ufs: FileUfs;
const big = bytes(300_000, 7);

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'hoard-ufs-file-'));
  root = join(base, 'root');
  await mkdir(join(root, 'dir', 'sub'), { recursive: true });
  await writeFile(join(root, 'big.bin'), big);
  await writeFile(join(root, 'empty'), '');
  await writeFile(join(root, 'dir', 'a.txt'), 'alpha');
  await writeFile(join(root, 'dir', 'sub', 'b.txt'), 'beta');
  await writeFile(join(base, 'secret.txt'), 'outside the root');
  await mkdir(join(base, 'outdir'));
  await writeFile(join(base, 'outdir', 'x'), 'outside');
  // Links: one staying inside, three leaving the root in different ways, one dangling.
  await symlink('dir/a.txt', join(root, 'inside-link'));
  await symlink('../secret.txt', join(root, 'up-link'));
  await symlink(join(base, 'secret.txt'), join(root, 'abs-link'));
  await symlink(join(base, 'outdir'), join(root, 'dir', 'out-dir-link'));
  await symlink('/nonexistent/hoard', join(root, 'dangling'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
  ufs = new FileUfs(root);
});

afterAll(async () => {
  await ufs?.close();
  await rm(base, { recursive: true, force: true });
});

describe('FileUfs', () => {
  it('stats files and directories with version = mtimeMs-size', async () => {
    const t = new Date('2024-01-02T03:04:05Z');
    await utimes(join(root, 'big.bin'), t, t);
    const f = await ufs.stat('/big.bin');
    expect(f).toMatchObject({ path: '/big.bin', name: 'big.bin', isDir: false, size: big.length, mtimeMs: t.getTime() });
    expect(f.version).toBe(`${t.getTime()}-${big.length}`);
    expect(await ufs.stat('/')).toMatchObject({ path: '/', isDir: true });
    expect(await ufs.stat('/dir/sub')).toMatchObject({ path: '/dir/sub', name: 'sub', isDir: true });
    expect(await ufs.stat('/inside-link')).toMatchObject({ path: '/inside-link', size: 5, isDir: false });
  });

  it('changes version when the file changes', async () => {
    const before = await ufs.stat('/dir/a.txt');
    await writeFile(join(root, 'dir', 'a.txt'), 'alpha!');
    await utimes(join(root, 'dir', 'a.txt'), new Date(), new Date(before.mtimeMs + 5000));
    const after = await ufs.stat('/dir/a.txt');
    expect(after.version).not.toBe(before.version);
    expect(await errorCode(ufs.read('/dir/a.txt', 0, 3, undefined, before.version))).toBe('FAILED_PRECONDITION');
    expect((await drain(await ufs.read('/dir/a.txt', 0, 6, undefined, after.version))).toString()).toBe('alpha!');
    await writeFile(join(root, 'dir', 'a.txt'), 'alpha');
  });

  it('lists a directory sorted, hiding escaping symlinks, dangling links and fifos', async () => {
    const names = (await ufs.list('/')).map((e) => e.name);
    expect(names).toEqual(['big.bin', 'dir', 'empty', 'inside-link']);
    const dir = await ufs.list('/dir');
    expect(dir.map((e) => [e.path, e.isDir])).toEqual([
      ['/dir/a.txt', false],
      ['/dir/sub', true],
    ]);
  });

  it('reads byte ranges exactly, clamped at EOF', async () => {
    const cases: [number, number][] = [
      [0, big.length],
      [0, 1],
      [1, 65_536],
      [123_457, 100_000],
      [big.length - 10, 100],
      [big.length - 1, 1],
      [big.length, 10],
      [big.length + 5, 10],
      [42, 0],
    ];
    for (const [off, len] of cases) {
      const got = await drain(await ufs.read('/big.bin', off, len));
      expect(got.equals(big.subarray(off, off + len)), `${off}+${len}`).toBe(true);
    }
    expect((await drain(await ufs.read('/empty', 0, 10))).length).toBe(0);
  });

  it('maps errors: missing, directory, not-a-directory, bad range', async () => {
    expect(await errorCode(ufs.stat('/nope'))).toBe('NOT_FOUND');
    expect(await errorCode(ufs.stat('/big.bin/child'))).toBe('NOT_FOUND');
    expect(await errorCode(ufs.list('/nope'))).toBe('NOT_FOUND');
    expect(await errorCode(ufs.list('/big.bin'))).toBe('NOT_DIRECTORY');
    expect(await errorCode(ufs.read('/nope', 0, 1))).toBe('NOT_FOUND');
    expect(await errorCode(ufs.read('/dir', 0, 1))).toBe('IS_DIRECTORY');
    expect(await errorCode(ufs.read('/big.bin', -1, 1))).toBe('INVALID_ARGUMENT');
    expect(await errorCode(ufs.read('/big.bin', 0, 1.5))).toBe('INVALID_ARGUMENT');
    expect(await errorCode(ufs.read('/fifo', 0, 1))).toBe('INVALID_ARGUMENT');
  });

  it('maps EACCES to PERMISSION_DENIED', async () => {
    // Root bypasses file modes, so drop to "nobody" in a child process to see a real EACCES.
    await writeFile(join(root, 'private'), 'x');
    await chmod(join(root, 'private'), 0o600);
    const script = `
      import { FileUfs } from ${JSON.stringify(pathToFileURL(join(process.cwd(), 'dist/worker/ufs/file.js')).href)};
      const u = new FileUfs(${JSON.stringify(root)});
      try { await u.read('/private', 0, 1); console.log('READ'); } catch (e) { console.log(e.code); }`;
    if (process.getuid?.() === 0) {
      await chmod(base, 0o755);
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, encoding: 'utf8' });
      expect(out.trim()).toBe('PERMISSION_DENIED');
    } else {
      expect(await errorCode(ufs.read('/private', 0, 1))).toBe('PERMISSION_DENIED');
    }
    await rm(join(root, 'private'));
  });

  describe('refuses every way out of the root', () => {
    it('".." in any position', async () => {
      for (const p of ['/..', '/../secret.txt', '/dir/../../secret.txt', '/dir/..']) {
        expect(await errorCode(ufs.stat(p)), p).toBe('INVALID_ARGUMENT');
        expect(await errorCode(ufs.read(p, 0, 10)), p).toBe('INVALID_ARGUMENT');
        expect(await errorCode(ufs.list(p)), p).toBe('INVALID_ARGUMENT');
      }
    });

    it('NUL bytes and relative paths', async () => {
      for (const p of ['/big.bin\0', '/dir\0/../x', 'big.bin', '../secret.txt', '']) {
        expect(await errorCode(ufs.stat(p)), JSON.stringify(p)).toBe('INVALID_ARGUMENT');
        expect(await errorCode(ufs.read(p, 0, 10)), JSON.stringify(p)).toBe('INVALID_ARGUMENT');
      }
    });

    it('absolute paths stay inside the root', async () => {
      const secret = join(base, 'secret.txt');
      expect(await errorCode(ufs.stat(secret))).toBe('NOT_FOUND');
      expect(await errorCode(ufs.read('/etc/passwd', 0, 10))).toBe('NOT_FOUND');
    });

    it('symlinks that resolve outside the root', async () => {
      for (const p of ['/up-link', '/abs-link', '/dir/out-dir-link', '/dir/out-dir-link/x']) {
        expect(await errorCode(ufs.stat(p)), p).toBe('PERMISSION_DENIED');
        expect(await errorCode(ufs.read(p, 0, 10)), p).toBe('PERMISSION_DENIED');
      }
      expect(await errorCode(ufs.list('/dir/out-dir-link'))).toBe('PERMISSION_DENIED');
      expect(await errorCode(ufs.stat('/dangling'))).toBe('NOT_FOUND');
    });

    it('a root that is itself a symlink still works, judged by its real path', async () => {
      const linkRoot = join(base, 'root-link');
      await symlink(root, linkRoot);
      const viaLink = createUfs({ name: 'l', uri: pathToFileURL(linkRoot).href });
      expect((await viaLink.stat('/dir/a.txt')).size).toBe(5);
      expect(await errorCode(viaLink.stat('/up-link'))).toBe('PERMISSION_DENIED');
      await viaLink.close();
    });
  });

  it('rejects bad roots clearly', async () => {
    expect(() => new FileUfs('relative/dir')).toThrow(/must be an absolute path/);
    const missing = new FileUfs(join(base, 'no-such-root'));
    await expect(missing.stat('/')).rejects.toThrow(/no-such-root.*no such file/);
    expect(() => createUfs({ name: 'x', uri: 'file://otherhost/data' })).toThrow(/three slashes/);
  });

  it('stops a read when the signal aborts', async () => {
    const ac = new AbortController();
    const stream = await ufs.read('/big.bin', 0, big.length, ac.signal);
    ac.abort();
    await expect(drain(stream)).rejects.toThrow(/abort/i);
  });
});
