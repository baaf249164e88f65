import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isHoardError } from '../lib/errors.js';
import type { MountTable } from '../lib/mounts.js';
import { createClient, type DataClient, type LoadProgress } from '../worker/client/index.js';
import { startWorkers, type WorkerGroup } from './support/workers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Reads a whole file the way FUSE does: sequential 128 KiB requests. */
async function readAll(client: DataClient, path: string): Promise<Buffer> {
  const info = await client.stat(path);
  const parts: Buffer[] = [];
  for (let off = 0; off < info.size; off += 128 * KiB) parts.push(await client.read(path, off, 128 * KiB, info));
  return Buffer.concat(parts);
}

describe('client through three real workers', () => {
  let dir: string;
  let src: string;
  let group: WorkerGroup;
  let client: DataClient;
  let mounts: MountTable;
  const files = new Map<string, Buffer>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoard-client-'));
    src = join(dir, 'src');
    await mkdir(join(src, 'small'), { recursive: true });
    await mkdir(join(src, 'many', 'sub'), { recursive: true });
    await mkdir(join(src, 'readers'), { recursive: true });
    const put = async (rel: string, data: Buffer): Promise<void> => {
      await writeFile(join(src, rel), data);
      files.set(`/data/${rel}`, data);
    };
    await put('small/a.bin', randomBytes(1000));
    await put('small/b.bin', randomBytes(300 * KiB + 7));
    await put('small/empty.bin', Buffer.alloc(0));
    await put('big.bin', randomBytes(16 * MiB + 333));
    for (let i = 0; i < 6; i++) await put(`many/f${i}.bin`, randomBytes(700 * KiB + i));
    for (let i = 0; i < 3; i++) await put(`many/sub/g${i}.bin`, randomBytes(3 * MiB + i));
    for (let i = 0; i < 36; i++) await put(`readers/r${i}.bin`, randomBytes(1 * MiB + 97 * i));
    mounts = { mounts: [{ name: 'data', uri: `file://${src}` }] };
    const mountsFile = join(dir, 'mounts.json');
    await writeFile(mountsFile, JSON.stringify(mounts));
    group = await startWorkers(3, { mountsFile, cacheRoot: join(dir, 'cache'), mem: '256Mi', pageSize: '256Ki' });
    client = createClient({ workers: group.addresses(), mounts, blockSize: 2 * MiB, timeoutMs: 5000, readAheadBytes: 1 * MiB });
  });

  afterAll(async () => {
    await client?.close();
    await group?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads byte-exact ranges, lists and stats; NOT_FOUND is an answer', async () => {
    const root = await client.list('/data');
    expect(root.map((e) => e.name).sort()).toEqual(['big.bin', 'many', 'readers', 'small']);
    const b = files.get('/data/small/b.bin')!;
    const info = await client.stat('/data/small/b.bin');
    expect(info).toMatchObject({ path: '/data/small/b.bin', name: 'b.bin', isDir: false, size: b.length });
    for (const [off, len] of [[0, 1], [0, b.length], [12345, 100_000], [b.length - 10, 1000], [b.length, 10], [b.length + 5, 10]] as const) {
      const got = await client.read('/data/small/b.bin', off, len);
      expect(got.equals(b.subarray(off, off + len))).toBe(true);
    }
    expect((await client.read('/data/small/empty.bin', 0, 4096)).length).toBe(0);
    expect((await readAll(client, '/data/small/a.bin')).equals(files.get('/data/small/a.bin')!)).toBe(true);
    const err = await client.stat('/data/small/nope.bin').catch((e: unknown) => e);
    expect(isHoardError(err, 'NOT_FOUND')).toBe(true);
    const err2 = await client.read('/data/small', 0, 10).catch((e: unknown) => e);
    expect(isHoardError(err2, 'IS_DIRECTORY')).toBe(true);
  });

  it('spreads a big file over several workers by block and reads it back exactly', async () => {
    const before = new Map((await client.stats()).map((s) => [s.workerId, s.pages]));
    const got = await readAll(client, '/data/big.bin');
    expect(sha(got)).toBe(sha(files.get('/data/big.bin')!));
    // A read spanning a block boundary is split and reassembled.
    const span = await client.read('/data/big.bin', 2 * MiB - 1000, 5 * MiB);
    expect(span.equals(files.get('/data/big.bin')!.subarray(2 * MiB - 1000, 7 * MiB - 1000))).toBe(true);
    const after = await client.stats();
    expect(after).toHaveLength(3);
    expect(after.every((s) => s.ready)).toBe(true);
    const grew = after.filter((s) => s.pages > (before.get(s.workerId) ?? 0));
    expect(grew.length).toBeGreaterThan(1);
  });

  it('load() warms every block on its owner and reports totals until done', async () => {
    const updates: LoadProgress[] = [];
    const final = await client.load(['/data/many'], { concurrency: 4 }, (p) => updates.push(p));
    const expected = [...files].filter(([p]) => p.startsWith('/data/many/'));
    expect(final).toMatchObject({ done: true, failures: 0, filesTotal: expected.length, filesDone: expected.length });
    expect(final.bytesTotal).toBe(expected.reduce((n, [, d]) => n + d.length, 0));
    expect(final.bytesDone).toBe(final.bytesTotal);
    expect(updates.at(-1)).toEqual(final);
    for (let i = 1; i < updates.length; i++) expect(updates[i]!.filesDone).toBeGreaterThanOrEqual(updates[i - 1]!.filesDone);
    const missing = await client.load(['/data/many/f0.bin', '/data/no-such-dir'], {}, () => {});
    expect(missing).toMatchObject({ done: true, failures: 1, filesDone: 1 });
    expect(missing.failedPaths).toEqual(['/data/no-such-dir']);
  });

  it('keeps 36 concurrent readers byte-exact while a worker is SIGKILLed', async () => {
    const readers = [...files].filter(([p]) => p.startsWith('/data/readers/'));
    let chunksRead = 0;
    let killed: Promise<void> | undefined;
    const results = await Promise.all(
      readers.map(async ([path]) => {
        const info = await client.stat(path);
        const parts: Buffer[] = [];
        for (let off = 0; off < info.size; off += 128 * KiB) {
          parts.push(await client.read(path, off, 128 * KiB, info));
          if (++chunksRead === 60) killed = group.kill(1, 'SIGKILL');
        }
        return [path, sha(Buffer.concat(parts))] as const;
      }),
    );
    await killed;
    expect(killed).toBeDefined();
    for (const [path, digest] of results) expect(digest, path).toBe(sha(files.get(path)!));
    // The survivors keep answering, including for keys the dead worker owned.
    const stats = await client.stats();
    expect(stats.filter((s) => s.ready)).toHaveLength(2);
  });

  it('falls back to the under-storage directly when every worker is down', async () => {
    await group.kill(0, 'SIGKILL');
    await group.kill(2, 'SIGKILL');
    const fresh = createClient({ workers: group.addresses(), mounts, blockSize: 2 * MiB, timeoutMs: 5000 });
    try {
      expect((await fresh.list('/data/small')).map((e) => e.name).sort()).toEqual(['a.bin', 'b.bin', 'empty.bin']);
      const got = await readAll(fresh, '/data/many/sub/g1.bin');
      expect(got.equals(files.get('/data/many/sub/g1.bin')!)).toBe(true);
      const err = await fresh.stat('/data/nothing').catch((e: unknown) => e);
      expect(isHoardError(err, 'NOT_FOUND')).toBe(true);
    } finally {
      await fresh.close();
    }
    const blind = createClient({ workers: group.addresses(), timeoutMs: 2000 });
    try {
      const err = await blind.stat('/data/small/a.bin').catch((e: unknown) => e);
      expect(isHoardError(err, 'UNAVAILABLE')).toBe(true);
      expect(String(err)).toMatch(/mount table/);
    } finally {
      await blind.close();
    }
  });
});
