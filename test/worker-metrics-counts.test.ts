// Metrics that must count each thing once, through real workers: a damaged disk page read by
// many readers at once, pages read straight from a RAM disk (Touch) as hits, each read of them
// once (a page re-read N times between two reports is N hits), and a Load of 20,000 missing
// paths as one summary line instead of a warning per path.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../worker/client/index.js';
import { workerConfigFromFlags } from '../worker/server/config.js';
import { startWorker } from '../worker/server/worker.js';
import { rawWorkerClient, startWorkers } from './support/workers.js';

const KiB = 1024;
let dir: string;
const file = randomBytes(16 * 64 * KiB);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hoard-metric-counts-'));
  await writeFile(join(dir, 'a.bin'), file);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function metric(http: string, name: string): Promise<number> {
  const text = await (await fetch(`http://${http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('each thing counted once', () => {
  it('hoard_page_checksum_failures_total counts each damaged page once, however many read it at once', async () => {
    const cacheRoot = join(dir, 'cache');
    // A memory tier of one page: the file's pages live on the disk tier.
    const group = await startWorkers(1, { ufs: [`f=file://${dir}`], cacheRoot, mem: '64Ki', disk: '16Mi', pageSize: '64Ki' });
    const rpc = rawWorkerClient(group.addresses()[0]);
    try {
      expect((await rpc.read('/f/a.bin', 0, file.length)).equals(file)).toBe(true);
      const pagesDir = join(cacheRoot, 'w0', 'pages');
      let damaged = 0;
      for (const d of await readdir(pagesDir)) {
        for (const name of await readdir(join(pagesDir, d))) {
          const p = join(pagesDir, d, name);
          const b = await readFile(p);
          b[b.length - 1] ^= 0xff;
          await writeFile(p, b);
          damaged++;
        }
      }
      expect(damaged).toBeGreaterThan(8);
      const reads = await Promise.all(Array.from({ length: 8 }, () => rpc.read('/f/a.bin', 0, file.length)));
      for (const r of reads) expect(r.equals(file)).toBe(true);
      expect(await metric(group.workers[0].http, 'hoard_page_checksum_failures_total')).toBe(damaged);
    } finally {
      rpc.close();
      await group.stop();
    }
  }, 60_000);

  it('pages a client reports through Touch (short-circuit reads) count as hits', async () => {
    const group = await startWorkers(1, { ufs: [`f=file://${dir}`], mem: '16Mi', disk: '0', pageSize: '64Ki' });
    const rpc = rawWorkerClient(group.addresses()[0]);
    try {
      const info = await rpc.stat('/f/a.bin');
      await rpc.read('/f/a.bin', 0, file.length);
      const before = await rpc.stats();
      const keys = Array.from({ length: 16 }, (_, i) => `/f/a.bin\0${info.version}\0${i}`);
      const res = await new Promise<{ touched: number }>((ok, fail) => rpc.stub.Touch({ pageKeys: keys }, (e: Error | null, r: { touched: number }) => (e ? fail(e) : ok(r))));
      expect(res.touched).toBe(16);
      const after = await rpc.stats();
      expect(Number(after.hits) - Number(before.hits)).toBe(16);
      expect(Number(after.misses)).toBe(Number(before.misses));
    } finally {
      rpc.close();
      await group.stop();
    }
  }, 60_000);

  it('a page re-read N times from the RAM disk between two Touch reports counts N hits; close() reports the last ones', async () => {
    const ram = await mkdtemp('/dev/shm/hoard-metric-counts-');
    const group = await startWorkers(1, { ufs: [`f=file://${dir}`], ramDisk: ram, mem: '16Mi', disk: '0', pageSize: '64Ki' });
    const rpc = rawWorkerClient(group.addresses()[0]);
    const readData = async (): Promise<number> => {
      const text = await (await fetch(`http://${group.workers[0].http}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('hoard_worker_rpc_duration_seconds_count{') && l.includes('method="ReadData"') && l.includes('code="OK"'));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
    };
    // The default report interval (1 s): the re-reads below take well under it, so most or all of them share one report.
    let client = createClient({ workers: group.addresses(), readAheadBytes: 0 });
    try {
      const page = file.subarray(0, 4096);
      // The first read misses through the worker; the client then finds the RAM disk in the background.
      let local = false;
      for (let i = 0; i < 100 && !local; i++) {
        const before = await readData();
        expect((await client.read('/f/a.bin', 0, 4096)).equals(page)).toBe(true);
        local = (await readData()) === before;
        if (!local) await new Promise((r) => setTimeout(r, 20));
      }
      expect(local).toBe(true);
      const start = await rpc.stats();
      const throughWorker = await readData();
      const N = 50;
      for (let i = 0; i < N; i++) expect((await client.read('/f/a.bin', 0, 4096)).equals(page)).toBe(true);
      expect(await readData()).toBe(throughWorker); // all N from the page file, none through the worker
      // The first local read (above) and the N re-reads: one hit each, reported by the timer.
      const want = Number(start.hits) + 1 + N;
      let hits = 0;
      for (let i = 0; i < 100 && hits < want; i++) {
        await new Promise((r) => setTimeout(r, 100));
        hits = Number((await rpc.stats()).hits);
      }
      expect(hits).toBe(want);
      // Reads right before an unmount are reported by close(), not lost with the timer.
      const info = await client.stat('/f/a.bin');
      for (let i = 0; i < 7; i++) expect(client.readInto('/f/a.bin', 0, Buffer.alloc(4096), 4096, info)).toBe(4096); // a number: read at once from the page file
      await client.close();
      const after = await rpc.stats();
      expect(Number(after.hits)).toBe(want + 7);
      expect(Number(after.misses)).toBe(Number(start.misses));
      client = createClient({ workers: group.addresses(), readAheadBytes: 0 });
    } finally {
      await client.close();
      rpc.close();
      await group.stop();
      await rm(ram, { recursive: true, force: true });
    }
  }, 60_000);

  it('Touch checks its counts: one per key or none, each at least 1, bounded; a bad report is refused whole', async () => {
    const group = await startWorkers(1, { ufs: [`f=file://${dir}`], mem: '16Mi', disk: '0', pageSize: '64Ki' });
    const rpc = rawWorkerClient(group.addresses()[0]);
    const touch = (req: object) => new Promise<{ touched: number; hits: number }>((ok, fail) => rpc.stub.Touch(req, (e: Error | null, r: { touched: number; hits: number }) => (e ? fail(e) : ok(r))));
    try {
      const info = await rpc.stat('/f/a.bin');
      await rpc.read('/f/a.bin', 0, 2 * 64 * KiB);
      const keys = [0, 1].map((i) => `/f/a.bin\0${info.version}\0${i}`);
      const before = Number((await rpc.stats()).hits);
      expect(await touch({ pageKeys: keys, reads: [3, 4], unlistedReads: 5 })).toMatchObject({ touched: 2, hits: 12 });
      for (const [req, msg] of [
        [{ pageKeys: keys, reads: [3] }, /reads: 1 counts for 2 page keys/],
        [{ pageKeys: keys, reads: [3, 0] }, /reads\[1\]: 0/],
        [{ pageKeys: keys, unlistedReads: 2 ** 50 }, /unlisted_reads: .* is not valid/],
      ] as const) {
        await expect(touch(req)).rejects.toMatchObject({ code: 3, details: expect.stringMatching(msg) });
      }
      expect(Number((await rpc.stats()).hits)).toBe(before + 12);
    } finally {
      rpc.close();
      await group.stop();
    }
  }, 60_000);

  it('a Load of 20,000 missing paths writes a summary, not a warning per path', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const worker = await startWorker(await workerConfigFromFlags({ id: 'w-load', listen: '127.0.0.1:0', http: '127.0.0.1:0', ufs: [`f=file://${dir}`], tier: ['MEM:16Mi'] }), pino({ level: 'info' }, sink));
    const rpc = rawWorkerClient(worker.grpc);
    try {
      const paths = Array.from({ length: 20_000 }, (_, i) => `/f/missing-${i}`);
      const progress = await rpc.load({ paths });
      const last = progress[progress.length - 1]!;
      expect(last).toMatchObject({ done: true, failures: 20_000 });
      const warnings = lines.filter((l) => l.level === 40);
      expect(warnings.length).toBeLessThanOrEqual(11);
      expect(warnings.at(-1)).toMatchObject({ failures: 20_000, byCode: { NOT_FOUND: 20_000 }, msg: 'load: 20000 paths failed (the first 10 were logged one by one)' });
    } finally {
      rpc.close();
      await worker.close();
    }
  }, 120_000);
});
