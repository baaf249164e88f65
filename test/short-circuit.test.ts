// Short-circuit reads: a worker whose MEM tier is page files on tmpfs, and a client on the same
// host reading those files directly (worker/store/short-circuit.ts, worker/client/short-circuit.ts).
import { randomBytes } from 'node:crypto';
import { statfsSync } from 'node:fs';
import { mkdtemp, open, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type DataClient } from '../worker/client/index.js';
import { ShortCircuitReader } from '../worker/client/short-circuit.js';
import { pageFileName } from '../worker/store/page-file.js';
import { fileId, pageKey } from '../worker/store/page-key.js';
import { assertRamFs } from '../worker/store/short-circuit.js';
import { sha256 } from './fuse-helpers.js';
import { startWorkers, type WorkerGroup } from './support/workers.js';

const MiB = 1024 * 1024;
let dir: string;
let ramDisk: string;
let group: WorkerGroup;
const big = randomBytes(5 * MiB + 777);
const small = randomBytes(70_000);

/** Data-channel reads a worker answered (its ReadData counter): unchanged means the client read directly. */
async function readDataCountOf(w: WorkerGroup): Promise<number> {
  const text = await (await fetch(`http://${w.workers[0].http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('hoard_worker_rpc_duration_seconds_count{') && l.includes('method="ReadData"') && l.includes('code="OK"'));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

const readDataCount = (): Promise<number> => readDataCountOf(group);

/** Reads `path` whole until a read no longer reaches the worker (the probe runs in the background); bounded. */
async function readUntilLocal(client: DataClient, path: string): Promise<Buffer> {
  for (let i = 0; i < 50; i++) {
    const before = await readDataCount();
    const got = await client.read(path, 0, 1 << 30);
    if ((await readDataCount()) === before) return got;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${path}: every read still went through the worker`);
}

/** Flips bits of the byte `fromEnd` bytes before a page file's end (in the data: the header stays valid). */
async function flipByte(file: string, fromEnd: number, mask: number): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const { size } = await fh.stat();
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, size - fromEnd);
    b[0] ^= mask;
    await fh.write(b, 0, 1, size - fromEnd);
  } finally {
    await fh.close();
  }
}

async function pageFiles(): Promise<string[]> {
  const pages = join(ramDisk, 'w0', 'pages');
  const out: string[] = [];
  for (const sub of await readdir(pages)) for (const f of await readdir(join(pages, sub))) out.push(join(pages, sub, f));
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hoard-sc-data-'));
  ramDisk = await mkdtemp('/dev/shm/hoard-sc-test-');
  await writeFile(join(dir, 'big.bin'), big);
  await writeFile(join(dir, 'small.bin'), small);
  group = await startWorkers(1, { ufs: [`data=file://${dir}`], ramDisk, mem: '64Mi', disk: '0', pageSize: '1Mi' });
});

afterAll(async () => {
  await group?.stop();
  await rm(dir, { recursive: true, force: true });
  await rm(ramDisk, { recursive: true, force: true });
});

describe('short-circuit reads of a RAM-disk MEM tier', () => {
  it('serves cached pages from the page files, byte-exact, without asking the worker', async () => {
    const client = createClient({ workers: group.addresses(), readAheadBytes: 0 });
    try {
      expect(sha256(await client.read('/data/big.bin', 0, big.length))).toBe(sha256(big)); // miss: through the worker
      expect(sha256(await readUntilLocal(client, '/data/big.bin'))).toBe(sha256(big));
      // Ranges that cut pages at both ends, and the short last page.
      const before = await readDataCount();
      for (const [off, len] of [[MiB - 5, 2 * MiB + 10], [5 * MiB + 1, 776], [123, 1]] as const) {
        expect(sha256(await client.read('/data/big.bin', off, len))).toBe(sha256(big.subarray(off, off + len)));
      }
      expect(await readDataCount()).toBe(before);
      // A small read of a page on the RAM disk is answered at once: a number, not a promise.
      const info = await client.stat('/data/big.bin');
      const dest = Buffer.alloc(128 * 1024);
      const n = client.readInto('/data/big.bin', 3 * MiB + 5, dest, dest.length, info);
      expect(n).toBe(dest.length);
      expect(dest.equals(big.subarray(3 * MiB + 5, 3 * MiB + 5 + dest.length))).toBe(true);
      expect(client.peekStat('/data/big.bin')).toEqual(info);
    } finally {
      await client.close();
    }
  });

  it('never returns a page file with flipped bits: the read goes through the worker, which refetches', async () => {
    const client = createClient({ workers: group.addresses(), readAheadBytes: 0 });
    try {
      await client.read('/data/small.bin', 0, small.length);
      await readUntilLocal(client, '/data/small.bin');
      // Flip one data byte near the end of every page file (the header stays valid).
      for (const f of await pageFiles()) await flipByte(f, 1, 0x40);
      const before = await readDataCount();
      expect(sha256(await client.read('/data/small.bin', 0, small.length))).toBe(sha256(small));
      expect(sha256(await client.read('/data/big.bin', 0, big.length))).toBe(sha256(big));
      expect(await readDataCount()).toBeGreaterThan(before);
    } finally {
      await client.close();
    }
  });

  it('fills shared-memory read-ahead pieces on its read thread, byte-exact, and refuses a flipped page there too', async () => {
    const client = createClient({ workers: group.addresses(), readAheadBytes: 0 });
    const reader = new ShortCircuitReader();
    try {
      await readUntilLocal(client, '/data/big.bin');
      const [stats] = await client.stats();
      const info = await client.stat('/data/big.bin');
      const file = { path: info.path, version: info.version, size: info.size };
      reader.probe(stats!.workerId, async () => stats!);
      await new Promise((r) => setImmediate(r));
      const shared = Buffer.from(new SharedArrayBuffer(6 * MiB));
      // Whole pages at an odd place in the shared buffer, then a range that cuts pages at both ends.
      for (const [off, len, at] of [[MiB, 4 * MiB, 100], [MiB - 7, 2 * MiB + 9, 3], [4 * MiB, big.length - 4 * MiB, 0]] as const) {
        const got = await reader.readAsync(stats!.workerId, file, off, len, shared.subarray(at));
        expect(got && sha256(got)).toBe(sha256(big.subarray(off, off + len)));
        expect(got!.buffer).toBe(shared.buffer);
      }
      expect(reader.pagesReadByThread).toBe(4 + 4 + 2); // pages 1-4, 0-3, 4-5
      // One flipped byte in page 2: the thread's read of any range touching it is refused...
      await flipByte(pageFileName(join(ramDisk, 'w0', 'pages'), pageKey(fileId(file.path, file.version), 2)), 10, 0x01);
      expect(await reader.readAsync(stats!.workerId, file, MiB, 4 * MiB, shared)).toBeUndefined();
      // ...and the worker drops and refetches it, so the client still gets the right bytes.
      expect(sha256(await client.read('/data/big.bin', 0, big.length))).toBe(sha256(big));
    } finally {
      await reader.close();
      await client.close();
    }
  });

  it('uses the directory the worker names with --short-circuit-dir (its tier as this host sees it), and only when the marker there matches', async () => {
    // As a pod's emptyDir is seen by the node's CSI plugin under the kubelet directory: here a
    // symlink stands for the other path to the same tmpfs directory.
    const ram = await mkdtemp('/dev/shm/hoard-sc-seen-');
    const data = await mkdtemp(join(tmpdir(), 'hoard-sc-seen-data-'));
    const bytes = randomBytes(3 * MiB + 11);
    await writeFile(join(data, 'f.bin'), bytes);
    const seenAs = join(ram, 'as-the-node-sees-it');
    await symlink(join(ram, 'w0'), seenAs);
    const elsewhere = await mkdtemp('/dev/shm/hoard-sc-elsewhere-');
    const start = (dirArg: string) => startWorkers(1, { ufs: [`d=file://${data}`], ramDisk: ram, mem: '64Mi', disk: '0', args: ['--short-circuit-dir', dirArg] });
    let w = await start(seenAs);
    try {
      const client = createClient({ workers: w.addresses(), readAheadBytes: 0 });
      try {
        expect((await client.stats())[0]!.shortCircuit?.dir).toBe(seenAs);
        await client.read('/d/f.bin', 0, bytes.length);
        const count = () => readDataCountOf(w);
        let direct = false;
        for (let i = 0; i < 50 && !direct; i++) {
          const before = await count();
          expect(sha256(await client.read('/d/f.bin', 0, bytes.length))).toBe(sha256(bytes));
          direct = (await count()) === before;
          if (!direct) await new Promise((r) => setTimeout(r, 20));
        }
        expect(direct).toBe(true);
      } finally {
        await client.close();
      }
      await w.stop();
      // Named somewhere that holds no marker of its: never trusted, every read through the worker.
      w = await start(elsewhere);
      const client2 = createClient({ workers: w.addresses(), readAheadBytes: 0 });
      try {
        for (let i = 0; i < 5; i++) {
          expect(sha256(await client2.read('/d/f.bin', 0, bytes.length))).toBe(sha256(bytes));
          await new Promise((r) => setTimeout(r, 20));
        }
        expect(await readDataCountOf(w)).toBeGreaterThanOrEqual(5);
      } finally {
        await client2.close();
      }
    } finally {
      await w.stop();
      await rm(ram, { recursive: true, force: true });
      await rm(elsewhere, { recursive: true, force: true });
      await rm(data, { recursive: true, force: true });
    }
  });

  it('does not trust a directory whose marker carries another token', async () => {
    const marker = join(ramDisk, 'w0', 'short-circuit.json');
    const original = await readFile(marker, 'utf8');
    await writeFile(marker, JSON.stringify({ ...JSON.parse(original), token: 'not-the-workers-token' }));
    const client = createClient({ workers: group.addresses(), readAheadBytes: 0 });
    try {
      for (let i = 0; i < 5; i++) {
        const before = await readDataCount();
        expect(sha256(await client.read('/data/small.bin', 0, small.length))).toBe(sha256(small));
        expect(await readDataCount()).toBe(before + 1);
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await client.close();
      await writeFile(marker, original);
    }
  });

  it('a worker refuses a MEM tier directory that is not on a RAM file system, naming the flag', async () => {
    const onDisk = await mkdtemp(join(process.cwd(), '.hoard-sc-disk-'));
    try {
      expect([0x01021994, 0x858458f6]).not.toContain(Number(statfsSync(onDisk).type)); // tmpfs, ramfs // this machine's work dir is a disk
      await expect(assertRamFs(onDisk, `--tier MEM:${onDisk}`)).rejects.toThrow(/--tier MEM:.* is not on tmpfs or ramfs .*use a directory under \/dev\/shm/);
    } finally {
      await rm(onDisk, { recursive: true, force: true });
    }
  });

  it('reports pages read directly to the worker, so eviction keeps them (LRU sees short-circuit reads)', async () => {
    const data = await mkdtemp(join(tmpdir(), 'hoard-sc-lru-'));
    const ram = await mkdtemp('/dev/shm/hoard-sc-lru-');
    const files = Array.from({ length: 12 }, (_, i) => ({ name: `f${i}.bin`, bytes: randomBytes(64 * 1024) }));
    for (const f of files) await writeFile(join(data, f.name), f.bytes);
    await writeFile(join(data, 'probe.bin'), randomBytes(100));
    // Room for about nine 64 KiB pages (page files carry a small header).
    const lru = await startWorkers(1, { ufs: [`d=file://${data}`], ramDisk: ram, mem: '640Ki', disk: '0', pageSize: '64Ki' });
    const client = createClient({ workers: lru.addresses(), readAheadBytes: 0, shortCircuitTouchMs: 50 });
    const count = () => readDataCountOf(lru);
    const readDirect = async (name: string): Promise<boolean> => {
      const before = await count();
      const got = await client.read(`/d/${name}`, 0, 1 << 20);
      expect(sha256(got)).toBe(sha256(name === 'probe.bin' ? await readFile(join(data, name)) : files.find((f) => f.name === name)!.bytes));
      return (await count()) === before;
    };
    try {
      // Let the client find the RAM disk first, on a file outside the experiment.
      for (let i = 0; i < 50 && !(await readDirect('probe.bin')); i++) await new Promise((r) => setTimeout(r, 20));
      for (let i = 0; i < 8; i++) expect(await readDirect(`f${i}.bin`)).toBe(false); // misses, f0 the oldest
      for (let i = 0; i < 5; i++) expect(await readDirect('f0.bin')).toBe(true); // the worker never sees these...
      await new Promise((r) => setTimeout(r, 300)); // ...but the client reports them
      for (let i = 8; i < 12; i++) expect(await readDirect(`f${i}.bin`)).toBe(false); // evicts the least recently used
      expect(await readDirect('f0.bin')).toBe(true); // kept: it was read recently
      expect(await readDirect('f1.bin')).toBe(false); // evicted
    } finally {
      await client.close();
      await lru.stop();
      await rm(data, { recursive: true, force: true });
      await rm(ram, { recursive: true, force: true });
    }
  });
});
