// Load (progress streaming, bandwidth cap, failures counted), /metrics, /healthz, /readyz on a
// real worker process.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawWorkerClient, startWorkers, type RawWorkerClient, type WorkerGroup } from './support/workers.js';

let dir: string;
let group: WorkerGroup;
let client: RawWorkerClient;
const files: Record<string, Buffer> = {
  'a.bin': randomBytes(3 * 1024 * 1024 + 17),
  'tree/b.bin': randomBytes(1024 * 1024),
  'tree/deep/c.bin': randomBytes(200_000),
  'tree/deep/d.txt': Buffer.from('hello'),
};
const total = Object.values(files).reduce((n, b) => n + b.length, 0);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hoard-worker-load-'));
  for (const [name, body] of Object.entries(files)) {
    await mkdir(join(dir, 'ds', name, '..'), { recursive: true });
    await writeFile(join(dir, 'ds', name), body);
  }
  group = await startWorkers(1, { ufs: [`ds=file://${join(dir, 'ds')}`], mem: '32Mi', disk: '0' });
  client = rawWorkerClient(group.workers[0].grpc);
});

afterAll(async () => {
  client?.close();
  await group?.stop();
  await rm(dir, { recursive: true, force: true });
});

const http = (path: string) => fetch(`http://${group.workers[0].http}${path}`, { signal: AbortSignal.timeout(10_000) });
function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name) && !l.startsWith('#'));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
}

describe('worker Load', () => {
  it('loads a directory recursively under a bandwidth cap, streaming progress and a final done', async () => {
    const progress = await client.load({ paths: ['/ds'], bandwidthBytesPerSec: 2 * 1024 * 1024, concurrency: 2 });
    const last = progress[progress.length - 1];
    expect(last).toMatchObject({ done: true, filesDone: 4, filesTotal: 4, bytesDone: total, bytesTotal: total, failures: 0 });
    expect(progress.slice(0, -1).every((p) => !p.done)).toBe(true);
    // Byte counts only grow between reports.
    for (let i = 1; i < progress.length; i++) expect(progress[i].bytesDone).toBeGreaterThanOrEqual(progress[i - 1].bytesDone);
    const stats = await client.stats();
    expect(stats.ufsBytesRead).toBe(total);
    expect(stats.filesCached).toBe(4);
  });

  it('then serves every loaded byte from the cache', async () => {
    const before = await client.stats();
    expect((await client.read('/ds/a.bin', 0, files['a.bin'].length)).equals(files['a.bin'])).toBe(true);
    const after = await client.stats();
    expect(after.ufsBytesRead).toBe(before.ufsBytesRead);
    expect(after.misses).toBe(before.misses);
    expect(after.hits).toBeGreaterThan(before.hits);
  });

  it('counts failed paths without failing the job, and loads explicit byte ranges', async () => {
    const progress = await client.load({
      paths: ['/ds/missing', '/ds/tree/deep'],
      items: [{ path: '/ds/a.bin', offset: 1024 * 1024, length: 1024 }, { path: '/ds/nope.bin' }],
    });
    const last = progress[progress.length - 1];
    expect(last.done).toBe(true);
    expect(last.failures).toBe(2);
    expect(last.failedPaths.sort()).toEqual(['/ds/missing', '/ds/nope.bin']);
    expect(last.filesDone).toBe(3);
    expect(last.bytesTotal).toBe(files['tree/deep/c.bin'].length + 5 + 1024);
  });

  it('stops pulling bytes when the client cancels a Load', async () => {
    const name = 'slow.bin';
    await writeFile(join(dir, 'ds', name), randomBytes(8 * 1024 * 1024));
    const call = client.stub.Load({ paths: [`/ds/${name}`], bandwidthBytesPerSec: 1024 * 1024 });
    call.on('error', () => undefined);
    await new Promise<void>((resolve) => call.once('data', () => resolve()));
    call.cancel();
    await sleep(500);
    const a = (await client.stats()).ufsBytesRead;
    await sleep(1500);
    const b = (await client.stats()).ufsBytesRead;
    expect(b).toBe(a);
    expect(b).toBeLessThan(total + 8 * 1024 * 1024);
  });
});

describe('worker HTTP', () => {
  it('/metrics shows hits after a second read, per-RPC latency and tier bytes', async () => {
    await client.read('/ds/tree/b.bin', 0, 4096);
    await client.read('/ds/tree/b.bin', 0, 4096);
    const res = await http('/metrics');
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(metric(text, 'hoard_cache_hits_total')).toBeGreaterThan(0);
    expect(metric(text, 'hoard_ufs_read_bytes_total')).toBeGreaterThan(0);
    expect(text).toMatch(/hoard_worker_rpc_duration_seconds_count\{[^}]*method="Read"[^}]*code="OK"/);
    expect(text).toMatch(/hoard_cache_bytes\{[^}]*tier="MEM"[^}]*\} [1-9]/);
    expect(text).toMatch(/hoard_cache_capacity_bytes\{[^}]*tier="MEM"[^}]*\} 33554432/);
  });

  it('/healthz is 200 and /readyz follows the under-storage', async () => {
    expect((await http('/healthz')).status).toBe(200);
    expect((await http('/readyz')).status).toBe(200);
    await rename(join(dir, 'ds'), join(dir, 'gone'));
    try {
      let res = await http('/readyz');
      for (let i = 0; i < 50 && res.status === 200; i++) {
        await sleep(200);
        res = await http('/readyz');
      }
      expect(res.status).toBe(503);
      expect(await res.text()).toMatch(/mount ds/);
    } finally {
      await rename(join(dir, 'gone'), join(dir, 'ds'));
    }
    let res = await http('/readyz');
    for (let i = 0; i < 50 && res.status !== 200; i++) {
      await sleep(200);
      res = await http('/readyz');
    }
    expect(res.status).toBe(200);
    expect((await http('/nothing')).status).toBe(404);
  });
});
