// A worker weighs its cached pages by the ring a Stats request names (owned_bytes): each page
// by the block of its first byte, placed as the clients place it. Through a real worker.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockKey, HashRing } from '../worker/client/index.js';
import { rawWorkerClient, startWorkers, type RawWorkerClient, type WorkerGroup } from './support/workers.js';

const KiB = 1024;
let dir: string;
let group: WorkerGroup;
let rpc: RawWorkerClient;
const big = randomBytes(1000 * KiB); // 16 pages of 64 KiB (the last one short), 8 blocks of 128 KiB
const small = randomBytes(5 * KiB);

const stats = (req: object) => new Promise<Record<string, any>>((ok, fail) => rpc.stub.Stats(req, (e: Error | null, r: Record<string, any>) => (e ? fail(e) : ok(r))));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hoard-stats-ring-'));
  await writeFile(join(dir, 'big.bin'), big);
  await writeFile(join(dir, 'small.bin'), small);
  group = await startWorkers(1, { ufs: [`d=file://${dir}`], mem: '16Mi', disk: '0', pageSize: '64Ki' });
  rpc = rawWorkerClient(group.addresses()[0]);
  await rpc.read('/d/big.bin', 0, big.length);
  await rpc.read('/d/small.bin', 0, small.length);
}, 60_000);

afterAll(async () => {
  rpc?.close();
  await group?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('Stats weighed by a ring', () => {
  it('owns every page when the ring is itself, none when it is not in the ring, and leaves the fields out when asked no ring', async () => {
    const plain = await stats({});
    expect(Number(plain.usedBytes)).toBe(big.length + small.length);
    expect(plain.ownedBytes).toBeUndefined();
    expect(await stats({ ring: ['w0'] })).toMatchObject({ ownedBytes: big.length + small.length, ownedPages: 17 });
    expect(await stats({ ring: ['w1', 'w2'] })).toMatchObject({ ownedBytes: 0, ownedPages: 0 });
  });

  it('with others in the ring, owns exactly the pages of the blocks the clients place on it', async () => {
    const ids = ['w0', 'w1', 'w2'];
    const ring = new HashRing(ids);
    const blockSize = 128 * KiB;
    let bytes = 0;
    let pages = 0;
    for (let page = 0; page < 16; page++) {
      if (ring.owners(blockKey('/d/big.bin', Math.floor((page * 64 * KiB) / blockSize)), 1)[0] !== 'w0') continue;
      bytes += Math.min(64 * KiB, big.length - page * 64 * KiB);
      pages++;
    }
    if (ring.owners(blockKey('/d/small.bin', 0), 1)[0] === 'w0') {
      bytes += small.length;
      pages++;
    }
    expect(pages).toBeGreaterThan(0);
    expect(pages).toBeLessThan(17);
    expect(await stats({ ring: ids, blockSize })).toMatchObject({ ownedBytes: bytes, ownedPages: pages });
  });

  it('refuses a ring or block size no client uses, naming the field', async () => {
    for (const [req, msg] of [
      [{ ring: ['w0', 'bad id'] }, /^ring: expected at most 4096 worker ids/],
      [{ ring: Array.from({ length: 4097 }, (_, i) => `w${i}`) }, /^ring: /],
      [{ ring: ['w0'], blockSize: 100 }, /^block_size: 100; use the clients' block size/],
      [{ ring: ['w0'], blockSize: 2 ** 41 }, /^block_size: .* is not valid/],
    ] as const) {
      await expect(stats(req)).rejects.toMatchObject({ code: 3, details: expect.stringMatching(msg) });
    }
  });
});
