// A real `hoard worker` process over a real gRPC socket, read with a raw proto-loader client:
// metadata, byte-exact reads (ranges across pages, EOF clamping), version checks, bad requests.
import { mkdtemp, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawWorkerClient, startWorkers, type RawWorkerClient, type WorkerGroup } from './support/workers.js';

let dir: string;
let group: WorkerGroup;
let client: RawWorkerClient;
const big = randomBytes(5 * 1024 * 1024 + 123);
const small = randomBytes(70_000);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hoard-worker-rpc-'));
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'big.bin'), big);
  await writeFile(join(dir, 'sub', 'small.bin'), small);
  await writeFile(join(dir, 'sub', 'empty'), '');
  await writeFile(join(dir, 'changing.txt'), 'version one');
  // 256 KiB pages: a 1 MiB chunk spans four pages, so reads exercise page assembly.
  group = await startWorkers(1, { ufs: [`data=file://${dir}`], pageSize: '256Ki', mem: '16Mi', disk: '0' });
  client = rawWorkerClient(group.workers[0].grpc);
});

afterAll(async () => {
  client?.close();
  await group?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Touch through the raw stub: the typed client only sends keys it formed itself. */
function touch(pageKeys: string[]): Promise<{ touched: number }> {
  return new Promise((resolve, reject) =>
    client.stub.touch({ pageKeys }, { deadline: new Date(Date.now() + 10_000) }, (err: Error | null, res: { touched: number }) => (err ? reject(err) : resolve(res))),
  );
}

async function codeOf(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, details: e.details };
  }
  throw new Error('expected the call to fail');
}

describe('worker metadata', () => {
  it('lists mounts at the root and files under a mount, matching the folder', async () => {
    expect((await client.list('/')).map((e) => [e.name, e.isDir])).toEqual([['data', true]]);
    const names = (await client.list('/data')).map((e) => e.name).sort();
    expect(names).toEqual((await readdir(dir)).sort());
    const sub = await client.list('/data/sub');
    expect(sub.find((e) => e.name === 'small.bin')).toMatchObject({ path: '/data/sub/small.bin', isDir: false, size: small.length });
  });

  it('stats files and directories', async () => {
    const st = await client.stat('/data/big.bin');
    expect(st).toMatchObject({ path: '/data/big.bin', name: 'big.bin', isDir: false, size: big.length });
    expect(st.version).not.toBe('');
    expect((await client.stat('/data/sub')).isDir).toBe(true);
    expect((await client.stat('/data//sub/./small.bin')).path).toBe('/data/sub/small.bin');
  });
});

describe('worker Read', () => {
  it('returns a whole file byte-exact in ordered chunks of at most 1 MiB', async () => {
    const chunks = await client.readChunks({ path: '/data/big.bin', offset: 0, length: big.length });
    let at = 0;
    for (const c of chunks) {
      expect(c.offset).toBe(at);
      expect(c.data.length).toBeLessThanOrEqual(1024 * 1024);
      at += c.data.length;
    }
    expect(Buffer.concat(chunks.map((c) => c.data)).equals(big)).toBe(true);
  });

  it('reads a range crossing page and chunk boundaries, twice (miss, then hit)', async () => {
    const offset = 256 * 1024 - 1000;
    const length = 1024 * 1024 + 5000;
    for (let i = 0; i < 2; i++) {
      const got = await client.read('/data/big.bin', offset, length);
      expect(got.equals(big.subarray(offset, offset + length))).toBe(true);
    }
  });

  it('clamps at EOF and returns nothing past it', async () => {
    expect((await client.read('/data/sub/small.bin', small.length - 10, 1000)).equals(small.subarray(small.length - 10))).toBe(true);
    expect((await client.read('/data/sub/small.bin', small.length + 5, 10)).length).toBe(0);
    expect((await client.read('/data/sub/empty', 0, 10)).length).toBe(0);
    expect((await client.read('/data/sub/small.bin', 0, 0)).length).toBe(0);
  });

  it('serves concurrent streams byte-exact', async () => {
    const ranges = [0, 1, 2, 3, 4, 5].map((i) => ({ offset: i * 700_001, length: 1_500_000 }));
    const got = await Promise.all(ranges.map((r) => client.read('/data/big.bin', r.offset, r.length)));
    got.forEach((g, i) => expect(g.equals(big.subarray(ranges[i].offset, ranges[i].offset + ranges[i].length))).toBe(true));
  });

  it('honours the client version: a newer client version makes the worker re-stat, an older one fails with FAILED_PRECONDITION', async () => {
    const before = await client.stat('/data/changing.txt');
    expect((await client.read('/data/changing.txt', 0, 100, before.version)).toString()).toBe('version one');
    await writeFile(join(dir, 'changing.txt'), 'version two, longer');
    // The worker still holds the old stat (meta TTL); a client that already saw the new file
    // (FileUfs versions are mtime-size) must get the new bytes, not a stale cached answer.
    const st = await stat(join(dir, 'changing.txt'));
    const fresh = `${st.mtimeMs}-${st.size}`;
    expect(fresh).not.toBe(before.version);
    expect((await client.read('/data/changing.txt', 0, 100, fresh)).toString()).toBe('version two, longer');
    expect((await client.stat('/data/changing.txt')).version).toBe(fresh);
    // A client still holding the old version is told the file changed.
    const failed = await codeOf(client.read('/data/changing.txt', 0, 100, before.version));
    expect(failed.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(failed.details).toMatch(/changed/);
    expect((await codeOf(client.read('/data/big.bin', 0, 10, 'not-a-version'))).code).toBe(grpc.status.FAILED_PRECONDITION);
  });
});

describe('worker request validation', () => {
  const cases: [string, () => Promise<unknown>, grpc.status, RegExp][] = [
    ['escaping path', () => client.read('/data/../../etc/passwd', 0, 10), grpc.status.INVALID_ARGUMENT, /\.\./],
    ['relative path', () => client.stat('data/big.bin'), grpc.status.INVALID_ARGUMENT, /absolute/],
    ['NUL in path', () => client.stat('/data/big\0.bin'), grpc.status.INVALID_ARGUMENT, /NUL/],
    ['empty path', () => client.list(''), grpc.status.INVALID_ARGUMENT, /path: required/],
    ['negative offset', () => client.read('/data/big.bin', -1, 10), grpc.status.INVALID_ARGUMENT, /offset/],
    ['negative length', () => client.read('/data/big.bin', 0, -10), grpc.status.INVALID_ARGUMENT, /length/],
    ['unknown mount', () => client.stat('/nope/file'), grpc.status.NOT_FOUND, /no mount named "nope"/],
    ['missing file', () => client.read('/data/missing.bin', 0, 10), grpc.status.NOT_FOUND, /missing/],
    ['read of a directory', () => client.read('/data/sub', 0, 10), grpc.status.INVALID_ARGUMENT, /directory/],
    ['load with nothing to load', () => client.load({}), grpc.status.INVALID_ARGUMENT, /at least one/],
    ['load with absurd concurrency', () => client.load({ paths: ['/data'], concurrency: 100_000 }), grpc.status.INVALID_ARGUMENT, /concurrency/],
    ['load of an escaping path', () => client.load({ items: [{ path: '/data/../x' }] }), grpc.status.INVALID_ARGUMENT, /items\[0\]\.path/],
    ['touch of an oversized page key', () => touch(['x'.repeat(20_000)]), grpc.status.INVALID_ARGUMENT, /page_keys/],
  ];
  for (const [name, call, code, message] of cases) {
    it(`refuses ${name} with a clear status`, async () => {
      const failed = await codeOf(call());
      expect(grpc.status[failed.code]).toBe(grpc.status[code]);
      expect(failed.details).toMatch(message);
    });
  }

  it('is still serving after every bad request', async () => {
    const stats = await client.stats();
    expect(stats.workerId).toBe('w0');
    expect(stats.ready).toBe(true);
    expect(stats.readyReason).toMatch(/^\d+ mount\(s\) reachable$/);
    expect((await client.read('/data/sub/small.bin', 0, 10)).equals(small.subarray(0, 10))).toBe(true);
  });
});
