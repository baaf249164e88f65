// A file:// root under attack: a directory inside the root is swapped back and forth with a
// symlink to a directory outside it, by another process, while a real worker serves gRPC reads,
// stats and listings of files under it. Not one byte, size or name from outside may come back,
// and nothing wrong may stay cached once the swapping stops.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FileUfs } from '../worker/ufs/file.js';
import { rawWorkerClient, startWorkers, type RawWorkerClient, type WorkerGroup } from './support/workers.js';

const INSIDE = Buffer.alloc(4096, 0x49); // 'I'
const OUTSIDE = Buffer.alloc(8192, 0x4f); // 'O', and a different size
const SWAP_MS = 3_000;

let base: string;
let group: WorkerGroup;
let rpc: RawWorkerClient;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'hoard-file-race-'));
  await mkdir(join(base, 'root', 'd'), { recursive: true });
  await mkdir(join(base, 'outside', 'd'), { recursive: true });
  await writeFile(join(base, 'root', 'd', 'f'), INSIDE);
  await writeFile(join(base, 'outside', 'd', 'f'), OUTSIDE);
  await writeFile(join(base, 'outside', 'd', 'secret'), OUTSIDE);
  // Metadata is never reused, so every read stats the file afresh: the widest window for the race.
  group = await startWorkers(1, { ufs: [`r=file://${join(base, 'root')}`], mem: '32Mi', disk: '0', args: ['--meta-ttl', '0s'] });
  rpc = rawWorkerClient(group.addresses()[0]);
});

afterAll(async () => {
  rpc?.close();
  await group?.stop();
  await rm(base, { recursive: true, force: true });
});

/** Swaps root/d with a symlink to outside/d (and back) in a tight loop, in its own process. */
function swapper(ms: number): Promise<number> {
  const script = `
    const fs = require('fs');
    const [root, outside, ms] = [process.argv[1], process.argv[2], Number(process.argv[3])];
    const d = root + '/d', real = root + '/d.real';
    const stop = Date.now() + ms;
    let swaps = 0;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    while (Date.now() < stop) {
      fs.renameSync(d, real); fs.symlinkSync(outside + '/d', d);
      Atomics.wait(nap, 0, 0, 0.3);
      fs.unlinkSync(d); fs.renameSync(real, d);
      Atomics.wait(nap, 0, 0, 0.3);
      swaps++;
    }
    process.stdout.write(String(swaps));
  `;
  const child = spawn(process.execPath, ['-e', script, join(base, 'root'), join(base, 'outside'), String(ms)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += String(d)));
  return new Promise((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`swapper exited ${code}`)))));
}

interface Target {
  read(): Promise<Buffer>;
  size(): Promise<number>;
  names(): Promise<string[]>;
}

async function race(t: Target, readers: number): Promise<{ swaps: number; reads: number; failed: number; outsideBytes: number; wrongSizes: number; outsideNames: number }> {
  const done = swapper(SWAP_MS);
  let finished = false;
  void done.finally(() => (finished = true));
  const r = { swaps: 0, reads: 0, failed: 0, outsideBytes: 0, wrongSizes: 0, outsideNames: 0 };
  const reader = async (): Promise<void> => {
    while (!finished) {
      try {
        const b = await t.read();
        r.reads++;
        for (const x of b) if (x !== 0x49) r.outsideBytes++;
        if (b.length !== INSIDE.length) r.wrongSizes++;
      } catch {
        r.failed++; // refused or not found mid-swap: fine, as long as it is not outside data
      }
    }
  };
  const stater = async (): Promise<void> => {
    while (!finished) {
      try {
        if ((await t.size()) !== INSIDE.length) r.wrongSizes++;
        if ((await t.names()).includes('secret')) r.outsideNames++;
      } catch {
        r.failed++;
      }
    }
  };
  [r.swaps] = await Promise.all([done, ...Array.from({ length: readers }, reader), stater()]);
  return r;
}

it('FileUfs: thousands of reads during the swap race, 0 outside bytes, sizes or names', async () => {
  const ufs = new FileUfs(join(base, 'root'));
  const r = await race(
    {
      read: async () => Buffer.concat(await (await ufs.read('/d/f', 0, 16_384)).toArray()),
      size: async () => (await ufs.stat('/d/f')).size,
      names: async () => (await ufs.list('/d')).map((e) => e.name),
    },
    16,
  );
  console.log(`FileUfs swap race: ${JSON.stringify(r)}`);
  expect(r.swaps).toBeGreaterThan(100);
  expect(r.reads).toBeGreaterThan(1000);
  expect(r).toMatchObject({ outsideBytes: 0, wrongSizes: 0, outsideNames: 0 });
}, 30_000);

it('worker: gRPC reads during the swap race return and cache 0 bytes from outside the root', async () => {
  const r = await race({ read: () => rpc.read('/r/d/f', 0, 16_384), size: async () => (await rpc.stat('/r/d/f')).size, names: async () => (await rpc.list('/r/d')).map((e) => e.name) }, 6);
  console.log(`worker swap race: ${JSON.stringify(r)}`);
  expect(r.swaps).toBeGreaterThan(100);
  expect(r.reads).toBeGreaterThan(20);
  expect(r).toMatchObject({ outsideBytes: 0, wrongSizes: 0, outsideNames: 0 });
  // After the race: the right size and bytes, whatever was cached during it.
  expect((await rpc.stat('/r/d/f')).size).toBe(INSIDE.length);
  expect((await rpc.read('/r/d/f', 0, 16_384)).equals(INSIDE)).toBe(true);
  expect((await rpc.list('/r/d')).map((e) => e.name)).toEqual(['f']);
}, 60_000);
