import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isHoardError } from '../lib/errors.js';
import { createClient, type DataClient } from '../worker/client/index.js';
import { startS3Server, writeS3MountTable } from './support/s3server.js';
import { startWorkers, type WorkerGroup } from './support/workers.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('client over S3 when the S3 server goes away', () => {
  let dir: string;
  let s3: Awaited<ReturnType<typeof startS3Server>>;
  let group: WorkerGroup;
  let client: DataClient;
  const cached = randomBytes(3 * MiB + 11);
  const uncached = randomBytes(2 * MiB + 5);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoard-client-s3-'));
    s3 = await startS3Server({ buckets: ['ds'] });
    await s3.putObject('ds', 'set/cached.bin', cached);
    await s3.putObject('ds', 'set/uncached.bin', uncached);
    const { mounts, mountsFile } = await writeS3MountTable(dir, s3);
    group = await startWorkers(2, { mountsFile, cacheRoot: join(dir, 'cache'), mem: '64Mi', pageSize: '256Ki' });
    client = createClient({ workers: group.addresses(), mounts, blockSize: 1 * MiB, timeoutMs: 5000 });
  });

  afterAll(async () => {
    await client?.close();
    await group?.stop();
    await s3?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves cached reads and fails uncached reads within 10 s', async () => {
    const info = await client.stat('/s3/cached.bin');
    const uinfo = await client.stat('/s3/uncached.bin');
    expect(sha(await client.read('/s3/cached.bin', 0, info.size, info))).toBe(sha(cached));
    await s3.halt();

    // Cached pages (and the workers' metadata cache) answer without the S3 server.
    const again = await client.read('/s3/cached.bin', 0, info.size, info);
    expect(sha(again)).toBe(sha(cached));
    const part = await client.read('/s3/cached.bin', MiB - 100, 200_000);
    expect(part.equals(cached.subarray(MiB - 100, MiB - 100 + 200_000))).toBe(true);

    const started = Date.now();
    const err = await client.read('/s3/uncached.bin', 0, uinfo.size, uinfo).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(isHoardError(err)).toBe(true);
    expect(['UNAVAILABLE', 'DEADLINE_EXCEEDED']).toContain((err as { code: string }).code);

    // The workers were not blamed for their under-storage: once S3 is back they serve again.
    await s3.restart();
    const ufsBytes = async (): Promise<number> => (await client.stats()).reduce((n, s) => n + s.ufsBytesRead, 0);
    const before = await ufsBytes();
    expect(sha(await client.read('/s3/uncached.bin', 0, uinfo.size, uinfo))).toBe(sha(uncached));
    expect((await ufsBytes()) - before).toBeGreaterThanOrEqual(uinfo.size);
  });
});
