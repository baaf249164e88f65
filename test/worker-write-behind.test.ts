// Write-behind: pages a worker caches in its heap memory tier also reach its disk tier in the
// background, so a worker that is SIGKILLed and restarted serves what it held as hits, without
// asking the under-storage again (requests counted on the S3 server's side).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type DataClient, type FileInfo } from '../worker/client/index.js';
import { startS3Server, writeS3MountTable, type S3Server } from './support/s3server.js';
import { startWorkers, type WorkerGroup } from './support/workers.js';

const KiB = 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A pass-through HTTP proxy in front of the S3 server that counts object GETs (path-style /bucket/key). */
async function countingProxy(target: number): Promise<{ port: number; gets: () => number; reset(): void; close(): Promise<void> }> {
  let gets = 0;
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url ?? '').split('?')[0]!.split('/').filter(Boolean).length >= 2) gets++;
    const up = request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    gets: () => gets,
    reset: () => void (gets = 0),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('write-behind to the disk tier', () => {
  let dir: string;
  let s3: S3Server;
  let proxy: Awaited<ReturnType<typeof countingProxy>>;
  let group: WorkerGroup;
  let client: DataClient | undefined;
  const files = Array.from({ length: 24 }, (_, i) => randomBytes(1024 * KiB + 777 * i + 1));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoard-write-behind-'));
    s3 = await startS3Server({ buckets: ['ds'] });
    for (const [i, b] of files.entries()) await s3.putObject('ds', `set/f${i}.bin`, b);
    proxy = await countingProxy(s3.port);
    const { mountsFile } = await writeS3MountTable(dir, s3, { endpoint: `http://127.0.0.1:${proxy.port}` });
    // The heap memory tier holds the whole dataset: nothing is ever evicted down to disk.
    group = await startWorkers(1, { mountsFile, cacheRoot: join(dir, 'cache'), mem: '64Mi', disk: '256Mi', pageSize: '256Ki' });
  });

  afterAll(async () => {
    await client?.close();
    await group?.stop();
    await proxy?.close();
    await s3?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a SIGKILLed worker restarts with everything its memory held, served as hits with no store GET', async () => {
    client = createClient({ workers: group.addresses(), shortCircuit: false });
    const entries = new Map((await client.list('/s3')).map((e) => [e.name, e]));
    const info = (i: number): FileInfo => entries.get(`f${i}.bin`)!;
    for (const [i, b] of files.entries()) expect(sha(await client.read(`/s3/f${i}.bin`, 0, b.length, info(i)))).toBe(sha(b));
    expect(proxy.gets()).toBeGreaterThanOrEqual(files.length);

    // The copies drain in the background; Stats (and /metrics) say when none is left.
    const deadline = Date.now() + 30_000;
    let s = (await client.stats())[0]!;
    while (s.writeBehindPending > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      s = (await client.stats())[0]!;
    }
    expect(s.writeBehindPending).toBe(0);
    const disk = s.tiers.find((t) => t.medium === 'SSD')!;
    const mem = s.tiers.find((t) => t.medium === 'MEM')!;
    expect(mem.pages).toBe(s.pages);
    expect(disk.pages).toBe(s.pages);
    const metrics = await (await fetch(`http://${group.workers[0]!.http}/metrics`)).text();
    expect(metrics).toMatch(/^hoard_cache_write_behind_pending_pages\{[^}]*\} 0$/m);

    await client.close();
    await group.restart(0); // SIGKILL, then the same id, cache directory and ports
    client = createClient({ workers: group.addresses(), shortCircuit: false });
    proxy.reset();
    for (const [i, b] of files.entries()) expect(sha(await client.read(`/s3/f${i}.bin`, 0, b.length, info(i)))).toBe(sha(b));
    const after = (await client.stats())[0]!;
    expect(after.hits / (after.hits + after.misses)).toBeGreaterThanOrEqual(0.99);
    expect(after.misses).toBe(0);
    expect(proxy.gets()).toBe(0);
  });
});
