// The data protocol against a real `hoard worker` process: byte-exact reads, many reads
// multiplexed on one connection, errors mapped exactly as the gRPC Read maps them, gRPC still
// served on the same port, and garbage on the port refused without hurting the worker.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataConnection } from '../worker/client/data-connection.js';
import { WorkerConnection } from '../worker/client/connection.js';
import { isRetryable } from '../worker/client/errors.js';
import { encodeRead, FrameType, HEADER_BYTES, MAGIC, writeHeader } from '../worker/proto/data-protocol.js';
import { rawWorkerClient, startWorkers, type RawWorkerClient, type WorkerGroup, workerFailure } from './support/workers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let dir: string;
let group: WorkerGroup;
let conn: WorkerConnection;
let raw: RawWorkerClient;
let address: string;
const big = randomBytes(12 * MiB + 321);
const small = randomBytes(70_000);
const sequential = randomBytes(20 * MiB + 5);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hoard-worker-data-'));
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'big.bin'), big);
  await writeFile(join(dir, 'sub', 'small.bin'), small);
  await writeFile(join(dir, 'sequential.bin'), sequential);
  await writeFile(join(dir, 'changing.txt'), 'version one');
  // 256 KiB pages: a 4 MiB window spans sixteen pages, and odd ranges cut pages at both ends.
  group = await startWorkers(1, { ufs: [`data=file://${dir}`], pageSize: '256Ki', mem: '64Mi', disk: '0' });
  address = group.workers[0].grpc;
  conn = new WorkerConnection('w0', address, 10_000);
  raw = rawWorkerClient(address);
});

afterAll(async () => {
  conn?.close();
  raw?.close();
  await group?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`http://${group.workers[0].http}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

const failure = workerFailure;

describe('data protocol reads', () => {
  it('reads a multi-MiB file byte-exact, miss then hit, and counts them as ReadData', async () => {
    const before = await metric('hoard_worker_rpc_duration_seconds_count', { method: 'ReadData', code: 'OK' });
    const { version } = await conn.stat('/data/big.bin');
    for (let i = 0; i < 2; i++) {
      const got = await conn.read('/data/big.bin', 0, big.length, version);
      expect(got.length).toBe(big.length);
      expect(sha(got)).toBe(sha(big));
    }
    const offset = 256 * KiB - 1000;
    const length = 5 * MiB + 5000;
    expect(sha(await conn.read('/data/big.bin', offset, length, ''))).toBe(sha(big.subarray(offset, offset + length)));
    expect((await metric('hoard_worker_rpc_duration_seconds_count', { method: 'ReadData', code: 'OK' })) - before).toBe(3);
    expect(await metric('hoard_worker_read_bytes_total', {})).toBeGreaterThanOrEqual(2 * big.length + length);
  });

  it('a sequential reader costs the under-storage one ranged read per 16 MiB, not one per request', async () => {
    const before = await metric('hoard_ufs_read_seconds_count', {});
    const { version } = await conn.stat('/data/sequential.bin');
    const parts: Buffer[] = [];
    for (let at = 0; at < sequential.length; at += MiB) parts.push(await conn.read('/data/sequential.bin', at, MiB, version));
    expect(sha(Buffer.concat(parts))).toBe(sha(sequential));
    // 21 requests: the first run reads 16 MiB ahead (the default --ufs-read-ahead), the second the rest.
    expect((await metric('hoard_ufs_read_seconds_count', {})) - before).toBe(2);
  });

  it('lands the bytes in a caller\'s buffer when given one, over both protocols', async () => {
    for (const read of [conn.read.bind(conn), conn.readGrpc.bind(conn)]) {
      const into = Buffer.alloc(3 * MiB);
      const got = await read('/data/big.bin', 1234, 2 * MiB, '', undefined, into);
      expect(got.buffer).toBe(into.buffer);
      expect(got.byteOffset).toBe(into.byteOffset);
      expect(got.equals(big.subarray(1234, 1234 + 2 * MiB))).toBe(true);
      const tail = await read('/data/sub/small.bin', small.length - 100, 1000, '', undefined, into);
      expect(tail.buffer).toBe(into.buffer);
      expect(tail.equals(small.subarray(small.length - 100))).toBe(true);
      // Too small to hold the range: a buffer of its own.
      const own = await read('/data/big.bin', 0, 4 * MiB, '', undefined, into);
      expect(own.buffer).not.toBe(into.buffer);
      expect(own.equals(big.subarray(0, 4 * MiB))).toBe(true);
    }
  });

  it('clamps at EOF like the gRPC Read', async () => {
    expect((await conn.read('/data/sub/small.bin', small.length - 10, 1000, '')).equals(small.subarray(small.length - 10))).toBe(true);
    expect((await conn.read('/data/sub/small.bin', small.length + 5, 10, '')).length).toBe(0);
    expect((await conn.read('/data/sub/small.bin', 0, 0, '')).length).toBe(0);
  });

  it('multiplexes many concurrent reads on one connection, past the per-connection in-flight limit', async () => {
    const data = new DataConnection('w0', address, { sockets: 1 });
    try {
      const ranges = Array.from({ length: 150 }, (_, i) => ({ offset: (i * 97_531) % (big.length - 1), length: 1 + ((i * 7_919) % (600 * KiB)) }));
      const got = await Promise.all(ranges.map((r) => data.read({ path: '/data/big.bin', offset: r.offset, length: r.length, version: '' }, 10_000)));
      got.forEach((g, i) => {
        const r = ranges[i];
        expect(g.equals(big.subarray(r.offset, r.offset + r.length)), `${r.offset}+${r.length}`).toBe(true);
      });
    } finally {
      data.close();
    }
  });
});

describe('data protocol reads with the client\'s stat', () => {
  it('a worker that never stat\'ed the file reads it on the client\'s version and size, without a stat of its own', async () => {
    await mkdir(join(dir, 'hinted'), { recursive: true });
    await writeFile(join(dir, 'hinted', 'fresh.bin'), small);
    const s = await stat(join(dir, 'hinted', 'fresh.bin'));
    const version = `${s.mtimeMs}-${s.size}`;
    const stats = await metric('hoard_ufs_metadata_requests_total', { op: 'stat' });
    expect((await conn.read('/data/hinted/fresh.bin', 0, s.size, version, undefined, undefined, s.size)).equals(small)).toBe(true);
    expect(await metric('hoard_ufs_metadata_requests_total', { op: 'stat' })).toBe(stats);
  });

  it('a wrong word from the client costs an error, never wrong bytes', async () => {
    await mkdir(join(dir, 'hinted'), { recursive: true });
    await writeFile(join(dir, 'hinted', 'moving.bin'), 'first content');
    const s1 = await stat(join(dir, 'hinted', 'moving.bin'));
    await writeFile(join(dir, 'hinted', 'moving.bin'), 'second, longer content');
    const s2 = await stat(join(dir, 'hinted', 'moving.bin'));
    const stale = await failure(conn.read('/data/hinted/moving.bin', 0, 100, `${s1.mtimeMs}-${s1.size}`, undefined, undefined, s1.size));
    expect(stale.code).toBe('FAILED_PRECONDITION');
    expect(stale.workerFault).toBe(false);
    expect((await failure(conn.read('/data/hinted/ghost.bin', 0, 10, 'v-1', undefined, undefined, 10))).code).toBe('NOT_FOUND');
    const ok = await conn.read('/data/hinted/moving.bin', 0, 100, `${s2.mtimeMs}-${s2.size}`, undefined, undefined, s2.size);
    expect(ok.toString()).toBe('second, longer content');
  });
});

describe('data protocol errors', () => {
  it('maps errors exactly as the gRPC Read does: answers, not worker faults', async () => {
    const st = await conn.stat('/data/changing.txt');
    await writeFile(join(dir, 'changing.txt'), 'version two, longer');
    const s = await stat(join(dir, 'changing.txt'));
    expect((await conn.read('/data/changing.txt', 0, 100, `${s.mtimeMs}-${s.size}`)).toString()).toBe('version two, longer');
    const cases: [string, (read: WorkerConnection['read']) => Promise<Buffer>, string][] = [
      ['unknown path', (read) => read('/data/nope.bin', 0, 10, ''), 'NOT_FOUND'],
      ['escaping path', (read) => read('/data/../../etc/passwd', 0, 10, ''), 'INVALID_ARGUMENT'],
      ['relative path', (read) => read('data/big.bin', 0, 10, ''), 'INVALID_ARGUMENT'],
      ['wrong version', (read) => read('/data/big.bin', 0, 10, 'not-a-version'), 'FAILED_PRECONDITION'],
      ['stale version', (read) => read('/data/changing.txt', 0, 10, st.version), 'FAILED_PRECONDITION'],
      ['directory', (read) => read('/data/sub', 0, 10, ''), 'IS_DIRECTORY'],
    ];
    for (const [what, call, code] of cases) {
      const viaData = await failure(call(conn.read.bind(conn)));
      const viaGrpc = await failure(call(conn.readGrpc.bind(conn)));
      expect(viaData.code, what).toBe(code);
      expect(viaData.workerFault, what).toBe(false);
      expect(isRetryable(viaData), what).toBe(false);
      expect({ code: viaData.code, workerFault: viaData.workerFault, message: viaData.message }, what).toEqual({
        code: viaGrpc.code,
        workerFault: viaGrpc.workerFault,
        message: viaGrpc.message,
      });
    }
  });

  it('refuses paths past PATH_MAX (too long for the data protocol: through the gRPC Read, which names the limit)', async () => {
    const before = await metric('hoard_worker_rpc_duration_seconds_count', { method: 'Read' });
    const e = await failure(conn.read(`/data/${'x'.repeat(9000)}`, 0, 10, ''));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/at most 4096 bytes \(PATH_MAX\)/);
    expect((await metric('hoard_worker_rpc_duration_seconds_count', { method: 'Read' })) - before).toBe(1);
  });
});

describe('one port, two protocols', () => {
  it('still serves gRPC Stat, List and Read', async () => {
    expect((await raw.stat('/data/big.bin')).size).toBe(big.length);
    expect((await raw.list('/data')).map((e) => e.name).sort()).toEqual(expect.arrayContaining(['big.bin', 'changing.txt', 'sub']));
    const got = await raw.read('/data/big.bin', 3 * MiB + 17, 2 * MiB);
    expect(got.equals(big.subarray(3 * MiB + 17, 5 * MiB + 17))).toBe(true);
    expect(sha(await conn.readGrpc('/data/big.bin', 0, big.length, ''))).toBe(sha(big));
  });

  it('closes connections that send garbage or break the protocol, and keeps serving', async () => {
    const http1 = await exchange(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(http1.closed).toBe(true);
    expect(http1.received.length).toBe(0);

    const unknownType = Buffer.alloc(HEADER_BYTES);
    writeHeader(unknownType, 0x7f, 1, 0);
    const bad = await exchange(Buffer.concat([MAGIC, unknownType]));
    expect(bad.closed).toBe(true);
    expect(bad.received.equals(MAGIC)).toBe(true);

    const huge = Buffer.alloc(HEADER_BYTES);
    writeHeader(huge, FrameType.READ, 1, 64 * MiB);
    expect((await exchange(Buffer.concat([MAGIC, huge]))).closed).toBe(true);

    const read = encodeRead(7, { path: '/data/sub/small.bin', offset: 0, length: 10, version: '' });
    read.writeUInt32BE(read.length - HEADER_BYTES - 3, 5); // lengths inside no longer add up
    expect((await exchange(Buffer.concat([MAGIC, read.subarray(0, read.length - 3)]))).closed).toBe(true);

    const dup = encodeRead(9, { path: '/data/big.bin', offset: 0, length: big.length, version: '' });
    expect((await exchange(Buffer.concat([MAGIC, dup, dup]))).closed).toBe(true);

    // Random bytes after a valid start, and a half-sent magic that goes quiet then closes.
    await exchange(Buffer.concat([MAGIC, randomBytes(4096)]));
    await exchange(MAGIC.subarray(0, 5));

    expect((await conn.read('/data/sub/small.bin', 0, small.length, '')).equals(small)).toBe(true);
    expect((await raw.stat('/data/sub/small.bin')).size).toBe(small.length);
    expect(process.kill(group.workers[0].pid, 0)).toBe(true);
  });
});

/** Sends bytes on a fresh connection; resolves with what came back once the worker closes it (or after 2 s). */
function exchange(bytes: Buffer): Promise<{ received: Buffer; closed: boolean }> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    const s = net.connect({ host, port }, () => s.write(bytes));
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ received: Buffer.concat(parts), closed: false });
    }, 2_000);
    s.on('data', (b) => parts.push(b));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ received: Buffer.concat(parts), closed: true });
    });
  });
}
