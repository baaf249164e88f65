// A hung under-storage (s3rver frozen with SIGSTOP) never takes cached reads down: workers that
// wait on it still answer from their cache (memory and disk), uncached reads fail with an error
// naming the store within the worker's --store-timeout, no worker is marked down, and once the
// store resumes everything reads again without a restart.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Errno, errnoFor } from '../csi/fuse/errno.js';
import { createClient, type DataClient, type FileInfo } from '../worker/client/index.js';
import { startS3Server, writeS3MountTable, type S3Server } from './support/s3server.js';
import { startWorkers, type WorkerGroup } from './support/workers.js';

const MiB = 1024 * 1024;
const STORE_TIMEOUT_MS = 2_000;
/** Slack over the store deadline for an uncached read to come back failed (two cores, shared). */
const SLACK_MS = 3_000;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('a hung under-storage', () => {
  let dir: string;
  let s3: S3Server;
  let group: WorkerGroup;
  let client: DataClient;
  const logLines: string[] = [];
  const cached = Array.from({ length: 8 }, (_, i) => randomBytes(2 * MiB + 1000 * i + 7));
  const uncached = Array.from({ length: 4 }, (_, i) => randomBytes(2 * MiB + 500 * i + 3));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoard-store-hang-'));
    s3 = await startS3Server({ buckets: ['ds'] });
    for (const [i, b] of cached.entries()) await s3.putObject('ds', `set/c${i}.bin`, b);
    for (const [i, b] of uncached.entries()) await s3.putObject('ds', `set/u${i}.bin`, b);
    const { mounts, mountsFile } = await writeS3MountTable(dir, s3);
    // 4 MiB of memory per worker for ~8 MiB of cached data each: half of it lives on the disk tier.
    group = await startWorkers(2, { mountsFile, cacheRoot: join(dir, 'cache'), mem: '4Mi', disk: '64Mi', pageSize: '256Ki', args: ['--store-timeout', `${STORE_TIMEOUT_MS}ms`] });
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    // Every read goes through the workers, as between nodes in a cluster (no short-circuit).
    client = createClient({ workers: group.addresses(), mounts, blockSize: 1 * MiB, shortCircuit: false, logger: pino({ level: 'debug' }, sink) });
  });

  afterAll(async () => {
    await client?.close();
    await group?.stop();
    await s3?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps serving cached pages, fails uncached reads within the store deadline naming the store, and recovers', async () => {
    const entries = new Map((await client.list('/s3')).map((e) => [e.name, e]));
    const info = (name: string): FileInfo => entries.get(name)!;
    for (const [i, b] of cached.entries()) expect(sha(await client.read(`/s3/c${i}.bin`, 0, b.length, info(`c${i}.bin`)))).toBe(sha(b));
    const tiers = (await client.stats()).flatMap((s) => s.tiers);
    expect(tiers.find((t) => t.medium === 'SSD')!.pages).toBeGreaterThan(0);

    s3.freeze();
    const until = Date.now() + 2 * STORE_TIMEOUT_MS + SLACK_MS;
    const uncachedResults: { ms: number; err: unknown }[] = [];
    // Readers of files nobody cached keep several reads waiting on the frozen store throughout.
    const stuck = uncached.map(async (b, i) => {
      while (Date.now() < until) {
        const t0 = Date.now();
        const err = await client.read(`/s3/u${i}.bin`, 0, b.length, info(`u${i}.bin`)).then(
          () => undefined,
          (e: unknown) => e,
        );
        uncachedResults.push({ ms: Date.now() - t0, err });
      }
    });
    let cachedReads = 0;
    let slow = 0;
    let wrong = 0;
    const warm = Array.from({ length: 3 }, async (_, lane) => {
      let k = lane;
      while (Date.now() < until) {
        const i = k++ % cached.length;
        const b = cached[i]!;
        const offset = (k * 300_007) % b.length;
        const length = Math.min(b.length - offset, 64 * 1024 + ((k * 131_071) % MiB));
        const t0 = Date.now();
        const got = await client.read(`/s3/c${i}.bin`, offset, length, info(`c${i}.bin`));
        if (Date.now() - t0 > 1000) slow++;
        if (!got.equals(b.subarray(offset, offset + length))) wrong++;
        cachedReads++;
      }
    });
    await Promise.all([...warm, ...stuck]);

    expect(wrong).toBe(0);
    expect(slow).toBe(0);
    expect(cachedReads).toBeGreaterThan(50);
    expect(uncachedResults.length).toBeGreaterThanOrEqual(uncached.length);
    for (const r of uncachedResults) {
      expect(r.err).toBeDefined();
      expect(errnoFor(r.err)).toBe(Errno.EIO);
      expect((r.err as Error).message).toMatch(/store mount "s3" \(s3:\/\/ds\/set\).*no answer within 2000 ms/);
      expect(r.ms).toBeLessThan(STORE_TIMEOUT_MS + SLACK_MS);
    }
    // A worker waiting on its store is not a dead worker.
    expect(logLines.filter((l) => l.includes('worker marked down'))).toEqual([]);

    s3.thaw();
    for (const [i, b] of uncached.entries()) expect(sha(await client.read(`/s3/u${i}.bin`, 0, b.length, info(`u${i}.bin`)))).toBe(sha(b));
    for (const [i, b] of cached.entries()) expect(sha(await client.read(`/s3/c${i}.bin`, 0, b.length, info(`c${i}.bin`)))).toBe(sha(b));
  });
});
