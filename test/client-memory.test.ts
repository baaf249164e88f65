// The mount's memory budget (csi/fuse/memory-budget.ts) rests on bounds the client keeps; here
// they are checked through a real client reading from real workers with more sequential readers
// than its read-ahead memory can serve at once.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountBudget } from '../csi/fuse/memory-budget.js';
import { createClient, type ClientMemory, type DataClient } from '../worker/client/index.js';
import { POOL_LIMIT } from '../worker/client/readahead.js';
import { startWorkers, type WorkerGroup } from './support/workers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('client memory bounds', () => {
  let dir: string;
  let group: WorkerGroup;
  let client: DataClient;
  const files = Array.from({ length: 12 }, (_, i) => randomBytes(6 * MiB + 1000 * i));
  const BUFFER = 8 * MiB;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hoard-client-memory-'));
    for (const [i, b] of files.entries()) await writeFile(join(dir, `f${i}.bin`), b);
    group = await startWorkers(2, { ufs: [`d=file://${dir}`], mem: '128Mi', disk: '0', pageSize: '256Ki' });
    client = createClient({ workers: group.addresses(), shortCircuit: false, readAheadBytes: 16 * MiB, readAheadBufferBytes: BUFFER });
  });

  afterAll(async () => {
    await client?.close();
    await group?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('read-ahead never holds more than its buffer budget, nor more than POOL_LIMIT spare pieces, with 12 readers at once', async () => {
    const peak: ClientMemory = { readAheadBytes: 0, readAheadSpareBytes: 0, statEntries: 0, listEntries: 0, shortCircuitNames: 0 };
    const sample = (): void => {
      const m = client.memory();
      for (const k of Object.keys(peak) as (keyof ClientMemory)[]) peak[k] = Math.max(peak[k], m[k]);
    };
    await Promise.all(
      files.map(async (b, i) => {
        const info = await client.stat(`/d/f${i}.bin`);
        for (let pass = 0; pass < 2; pass++) {
          const parts: Buffer[] = [];
          for (let off = 0; off < b.length; off += 128 * KiB) {
            parts.push(await client.read(`/d/f${i}.bin`, off, 128 * KiB, info));
            sample();
          }
          expect(Buffer.concat(parts).equals(b)).toBe(true);
        }
      }),
    );
    expect(peak.readAheadBytes).toBeGreaterThan(0);
    expect(peak.readAheadBytes).toBeLessThanOrEqual(BUFFER);
    expect(peak.readAheadSpareBytes).toBeLessThanOrEqual(POOL_LIMIT * 4 * MiB);
    const budget = mountBudget(BUFFER);
    expect(peak.readAheadBytes + peak.readAheadSpareBytes).toBeLessThanOrEqual(budget.readAhead + budget.spare);
    expect(peak.statEntries).toBeLessThanOrEqual(20_000);
  });
});
