// Disk-tier persistence across a worker restart, damaged page files on disk, and an S3 mount
// served through a real S3-protocol server.
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Server, type S3Server } from './support/s3server.js';
import { rawWorkerClient, startWorkers, type RawWorkerClient, type WorkerGroup } from './support/workers.js';

async function pageFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name));
  }
  return out;
}

describe('worker restart and disk pages', () => {
  let dir: string;
  let cacheRoot: string;
  let group: WorkerGroup;
  let client: RawWorkerClient;
  const PAGE = 256 * 1024;
  const body = randomBytes(16 * PAGE);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoard-worker-restart-'));
    cacheRoot = await mkdtemp(join(tmpdir(), 'hoard-worker-cache-'));
    await writeFile(join(dir, 'f.bin'), body);
    // MEM holds 4 pages: reading 16 pushes the first ones down to the disk tier.
    group = await startWorkers(1, { ufs: [`d=file://${dir}`], cacheRoot, pageSize: '256Ki', mem: '1Mi', disk: '64Mi' });
    client = rawWorkerClient(group.workers[0].grpc);
  });

  afterAll(async () => {
    client?.close();
    await group?.stop();
    await rm(dir, { recursive: true, force: true });
    await rm(cacheRoot, { recursive: true, force: true });
  });

  it('serves disk pages as hits after a restart, without touching the under-storage', async () => {
    expect((await client.read('/d/f.bin', 0, body.length)).equals(body)).toBe(true);
    expect((await client.stats()).ufsBytesRead).toBe(body.length);
    await group.kill(0, 'SIGTERM'); // graceful: pending disk writes are flushed
    const port = group.workers[0].grpc;
    await group.restart(0);
    expect(group.workers[0].grpc).toBe(port);
    client.close();
    client = rawWorkerClient(group.workers[0].grpc);
    const fresh = await client.stats();
    expect(fresh.hits).toBe(0);
    expect(fresh.pages).toBeGreaterThanOrEqual(8);
    // The first half was evicted from MEM to disk long before shutdown.
    const half = 8 * PAGE;
    expect((await client.read('/d/f.bin', 0, half)).equals(body.subarray(0, half))).toBe(true);
    const after = await client.stats();
    expect(after.hits).toBeGreaterThanOrEqual(8);
    expect(after.misses).toBe(0);
    expect(after.ufsBytesRead).toBe(0);
  });

  it('never serves a page whose bytes flipped on disk', async () => {
    await group.kill(0, 'SIGTERM');
    const files = await pageFiles(join(cacheRoot, 'w0'));
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const [i, f] of files.entries()) {
      const size = (await stat(f)).size;
      const fh = await open(f, 'r+');
      try {
        // Flip one bit in the data of most files, in the header of a few.
        const at = i % 4 === 0 ? 10 : size - 1 - (i * 997) % Math.max(1, size - 64);
        const b = Buffer.alloc(1);
        await fh.read(b, 0, 1, at);
        b[0] ^= 0x10;
        await fh.write(b, 0, 1, at);
      } finally {
        await fh.close();
      }
    }
    await group.restart(0);
    client.close();
    client = rawWorkerClient(group.workers[0].grpc);
    expect((await client.read('/d/f.bin', 0, body.length)).equals(body)).toBe(true);
    expect((await client.stats()).ufsBytesRead).toBeGreaterThan(0);
    const metrics = await (await fetch(`http://${group.workers[0].http}/metrics`)).text();
    expect(metrics).toMatch(/hoard_page_checksum_failures_total\{[^}]*\} [1-9]/);
  });
});

describe('worker over an S3 mount', () => {
  let s3: S3Server;
  let group: WorkerGroup;
  let client: RawWorkerClient;
  const objects: Record<string, Buffer> = { 'imgs/a.bin': randomBytes(2 * 1024 * 1024 + 5), 'imgs/sub/b.txt': Buffer.from('bee'), 'top.bin': randomBytes(1000) };

  beforeAll(async () => {
    s3 = await startS3Server({ buckets: ['ds'] });
    for (const [k, v] of Object.entries(objects)) await s3.putObject('ds', `prefix/${k}`, v);
    group = await startWorkers(1, {
      ufs: [`s3=s3://ds/prefix?endpoint=${s3.endpoint}&pathStyle=true`],
      env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: 'us-east-1' },
      disk: '0',
    });
    client = rawWorkerClient(group.workers[0].grpc);
  });

  afterAll(async () => {
    client?.close();
    await group?.stop();
    await s3?.stop();
  });

  it('stats, lists and reads objects byte-exact', async () => {
    expect((await client.list('/s3')).map((e) => [e.name, e.isDir]).sort()).toEqual([['imgs', true], ['top.bin', false]]);
    expect((await client.list('/s3/imgs')).map((e) => e.name).sort()).toEqual(['a.bin', 'sub']);
    const st = await client.stat('/s3/imgs/a.bin');
    expect(st.size).toBe(objects['imgs/a.bin'].length);
    const a = objects['imgs/a.bin'];
    expect((await client.read('/s3/imgs/a.bin', 0, a.length, st.version)).equals(a)).toBe(true);
    expect((await client.read('/s3/imgs/a.bin', 1_000_000, 100_000)).equals(a.subarray(1_000_000, 1_100_000))).toBe(true);
    expect((await client.read('/s3/imgs/sub/b.txt', 0, 10)).toString()).toBe('bee');
    const stats = await client.stats();
    expect(stats.hits).toBeGreaterThan(0);
    expect(stats.ufsBytesRead).toBe(a.length + 3);
  });
});
