// Hostile requests against a real worker process: numbers past 2^53 or out of range, fuzzed
// data-protocol frames, paths past PATH_MAX / NAME_MAX, on the data socket and through gRPC.
// Every bad request gets an error reply at once, and the worker stays up to answer the next one.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NAME_MAX, PATH_MAX } from '../lib/limits.js';
import { decodeError, encodeRead, FrameType, HEADER_BYTES, MAGIC, writeHeader } from '../worker/proto/data-protocol.js';
import { FrameReader } from '../worker/proto/frame-reader.js';
import { codeOf, csiClient, startPlugin, type CsiClient, type PluginProcess } from './support/csi.js';
import { rawWorkerClient, startWorkers, type RawWorkerClient, type WorkerGroup } from './support/workers.js';

const FILE = Buffer.alloc(300_000, 0x5a);
let dir: string;
let group: WorkerGroup;
let rpc: RawWorkerClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hoard-hostile-'));
  await writeFile(join(dir, 'a.bin'), FILE);
  group = await startWorkers(1, { ufs: [`f=file://${dir}`], mem: '32Mi', disk: '0' });
  rpc = rawWorkerClient(group.addresses()[0]);
});

afterAll(async () => {
  rpc?.close();
  await group?.stop();
  await rm(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

type Reply = { type: 'data'; bytes: number } | { type: 'error'; code: string; message: string } | { type: 'closed' };

/** A raw data-protocol connection: send any bytes, wait for the reply (END or ERROR) to one id. */
class DataSocket {
  private readonly sock: net.Socket;
  private readonly got = new Map<number, { bytes: number; done?: Reply }>();
  private waiters: (() => void)[] = [];
  closed = false;

  constructor(address: string) {
    const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
    this.sock = net.connect(port, host);
    const parser = new FrameReader(
      { magic: MAGIC, maxBody: (t) => (t === FrameType.END ? 0 : t === FrameType.ERROR ? 1 << 16 : undefined), streamed: FrameType.DATA },
      {
        frame: (type, id, body) => {
          const r = this.entry(id);
          r.done = type === FrameType.END ? { type: 'data', bytes: r.bytes } : { type: 'error', ...decodeError(body) };
          this.wake();
        },
        streamStart: (id, _off, n) => void (this.entry(id).bytes += n),
        invalid: (reason) => {
          throw new Error(`worker broke the protocol: ${reason}`);
        },
      },
    );
    this.sock.on('data', (c: Buffer) => parser.push(c));
    this.sock.on('error', () => undefined);
    this.sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.sock.write(MAGIC);
  }

  private entry(id: number): { bytes: number; done?: Reply } {
    let r = this.got.get(id);
    if (!r) this.got.set(id, (r = { bytes: 0 }));
    return r;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(frame: Buffer): void {
    this.sock.write(frame);
  }

  async reply(id: number, ms = 5_000): Promise<Reply> {
    const deadline = Date.now() + ms;
    for (;;) {
      const done = this.got.get(id)?.done;
      if (done) return done;
      if (this.closed) return { type: 'closed' };
      if (Date.now() > deadline) throw new Error(`no reply to request ${id} within ${ms} ms`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  close(): void {
    this.sock.destroy();
  }
}

describe('numbers at the edge', () => {
  it('answers a READ whose length is all 0xFF bytes, after a stat, with an error and serves the next request', async () => {
    await rpc.stat('/f/a.bin'); // the worker now holds the file's metadata: the fast path is armed
    expect((await rpc.read('/f/a.bin', 0, 4096)).length).toBe(4096); // and the first page is in memory
    const s = new DataSocket(group.workers[0].grpc);
    try {
      const bad = encodeRead(1, { path: '/f/a.bin', version: '', offset: 0, length: 1 });
      bad.fill(0xff, HEADER_BYTES + 8, HEADER_BYTES + 16); // length u64 = 2^64 - 1
      s.send(bad);
      const r = await s.reply(1);
      expect(r).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT' });
      expect((r as { message: string }).message).toMatch(/^length: /);
      // Offset all 0xFF, and a size past 2^53, too.
      const badOffset = encodeRead(2, { path: '/f/a.bin', version: '', offset: 0, length: 10 });
      badOffset.fill(0xff, HEADER_BYTES, HEADER_BYTES + 8);
      s.send(badOffset);
      expect(await s.reply(2)).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT' });
      const badSize = encodeRead(3, { path: '/f/a.bin', version: 'v', offset: 0, length: 10, size: 1 });
      badSize.fill(0xff, badSize.length - 8);
      s.send(badSize);
      expect(await s.reply(3)).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT' });
      // Same connection, next request: served.
      s.send(encodeRead(4, { path: '/f/a.bin', version: '', offset: 100, length: 1000 }));
      expect(await s.reply(4)).toEqual({ type: 'data', bytes: 1000 });
    } finally {
      s.close();
    }
    expect(alive(group.workers[0].pid)).toBe(true);
    expect((await rpc.stat('/f/a.bin')).size).toBe(FILE.length);
  });

  it('survives thousands of fuzzed frames and still serves reads', async () => {
    let seed = 0x9e3779b9;
    const rand = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const u64 = (b: Buffer, at: number): void => {
      const kind = Math.floor(rand() * 4);
      if (kind === 0) b.fill(0xff, at, at + 8);
      else if (kind === 1) for (let i = 0; i < 8; i++) b[at + i] = Math.floor(rand() * 256);
      else if (kind === 2) b.writeUInt32BE(Math.floor(rand() * 2 ** 32), at + 4);
      else b.writeUInt32BE(Math.floor(rand() * 400_000), at + 4);
    };
    let errors = 0;
    let served = 0;
    let closedByWorker = 0;
    let s = new DataSocket(group.workers[0].grpc);
    for (let id = 1; id <= 3000; id++) {
      const f = encodeRead(id, { path: rand() < 0.5 ? '/f/a.bin' : `/f/${'x'.repeat(Math.floor(rand() * 300))}`, version: rand() < 0.8 ? '' : 'v', offset: 0, length: 0, size: rand() < 0.3 ? 0 : undefined });
      u64(f, HEADER_BYTES);
      u64(f, HEADER_BYTES + 8);
      if (rand() < 0.02) f[HEADER_BYTES + 16 + Math.floor(rand() * 2)] = Math.floor(rand() * 256); // path length lies
      if (rand() < 0.01) writeHeader(f, Math.floor(rand() * 256), id, f.length - HEADER_BYTES); // unknown frame type
      s.send(f);
      const r = await s.reply(id, 10_000);
      if (r.type === 'error') errors++;
      else if (r.type === 'data') served++;
      else {
        closedByWorker++;
        expect(alive(group.workers[0].pid)).toBe(true);
        s = new DataSocket(group.workers[0].grpc);
      }
    }
    s.close();
    expect(errors).toBeGreaterThan(1000);
    expect(served).toBeGreaterThan(50);
    expect(closedByWorker).toBeGreaterThan(0); // broken framing closes that connection only
    expect(alive(group.workers[0].pid)).toBe(true);
    expect((await rpc.read('/f/a.bin', 0, FILE.length)).equals(FILE)).toBe(true);
  }, 60_000);

  it('refuses out-of-range gRPC numbers with INVALID_ARGUMENT', async () => {
    const code = async (p: Promise<unknown>): Promise<string> => {
      try {
        await p;
      } catch (err) {
        return `${(err as { code: number }).code} ${(err as { details: string }).details}`;
      }
      return 'ok';
    };
    expect(await code(rpc.readChunks({ path: '/f/a.bin', offset: -1, length: 10 }))).toMatch(/^3 offset: /);
    expect(await code(rpc.readChunks({ path: '/f/a.bin', offset: 0, length: '18446744073709551615' as unknown as number }))).toMatch(/^3 length: /);
    expect(await code(rpc.readChunks({ path: '/f/a.bin', offset: 2 ** 60, length: 10 }))).toMatch(/^3 offset: /);
    expect(await code(rpc.readChunks({ path: '/f/a.bin', offset: 0, length: 2 ** 31 }))).toMatch(/^3 length: .*1073741824/);
    expect(await code(rpc.load({ items: [{ path: '/f/a.bin', offset: 0, length: -5 }] }))).toMatch(/^3 items\[0\]\.length: /);
    expect(await code(rpc.load({ paths: ['/f'], concurrency: 4_000_000_000 }))).toMatch(/^3 concurrency: /);
    expect(await code(rpc.load({ paths: ['/f'], bandwidthBytesPerSec: '18446744073709551615' as unknown as number }))).toMatch(/^3 bandwidth_bytes_per_sec: /);
    expect(alive(group.workers[0].pid)).toBe(true);
    expect((await rpc.read('/f/a.bin', 10, 10)).length).toBe(10);
  });
});

describe('path limits', () => {
  const huge = `/f/${'d/'.repeat(50_000)}x`; // 100,004 bytes
  const longName = `/f/${'n'.repeat(NAME_MAX + 1)}`;

  it('refuses a 100,000-byte path at once on every gRPC call, naming PATH_MAX', async () => {
    const calls: [string, () => Promise<unknown>][] = [
      ['Stat', () => rpc.stat(huge)],
      ['List', () => rpc.list(huge)],
      ['Read', () => rpc.read(huge, 0, 10)],
      ['Load', () => rpc.load({ paths: [huge] })],
    ];
    for (const [name, call] of calls) {
      const t0 = Date.now();
      const err = (await call().then(() => undefined, (e: unknown) => e)) as { code: number; details: string } | undefined;
      expect(err, name).toBeDefined();
      expect(err!.code, name).toBe(3);
      expect(err!.details, name).toContain(`at most ${PATH_MAX} bytes (PATH_MAX)`);
      expect(err!.details.length, name).toBeLessThan(3000);
      expect(Date.now() - t0, name).toBeLessThan(5_000);
    }
    const named = (await rpc.stat(longName).then(() => undefined, (e: unknown) => e)) as { code: number; details: string };
    expect(named.code).toBe(3);
    expect(named.details).toContain(`at most ${NAME_MAX} bytes (NAME_MAX)`);
  });

  it('refuses a path past PATH_MAX on the data socket with an ERROR, and serves on', async () => {
    const s = new DataSocket(group.workers[0].grpc);
    try {
      // The protocol's encoder refuses it; a hostile client builds the frame by hand.
      const path = Buffer.from(`/f/${'d/'.repeat(2100)}x`);
      const body = Buffer.alloc(8 + 8 + 2 + path.length + 2);
      body.writeUInt32BE(10, 12);
      body.writeUInt16BE(path.length, 16);
      path.copy(body, 18);
      const head = Buffer.alloc(HEADER_BYTES);
      writeHeader(head, FrameType.READ, 7, body.length);
      s.send(Buffer.concat([head, body]));
      const r = await s.reply(7);
      expect(r).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT' });
      expect((r as { message: string }).message).toContain('PATH_MAX');
      s.send(encodeRead(8, { path: longName, version: '', offset: 0, length: 10 }));
      expect(await s.reply(8)).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT', message: expect.stringContaining('NAME_MAX') });
      s.send(encodeRead(9, { path: '/f/a.bin', version: '', offset: 0, length: 10 }));
      expect(await s.reply(9)).toEqual({ type: 'data', bytes: 10 });
    } finally {
      s.close();
    }
  });

  describe('CSI', () => {
    let root: string;
    let plugin: PluginProcess;
    let csi: CsiClient;
    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), 'hoard-hostile-csi-'));
      plugin = await startPlugin({ dir: root, stateDir: join(root, 'state') });
      csi = csiClient(plugin.socket);
    });
    afterAll(async () => {
      csi?.close();
      await plugin?.kill();
      await rm(root, { recursive: true, force: true });
    });

    it('refuses target and staging paths past PATH_MAX or NAME_MAX with INVALID_ARGUMENT', async () => {
      const t0 = Date.now();
      const r = await codeOf(csi.node.NodeUnpublishVolume({ volume_id: 'v', target_path: huge }));
      expect(r.code).toBe(3);
      expect(r.details).toContain('PATH_MAX');
      const s = await codeOf(csi.node.NodeUnstageVolume({ volume_id: 'v', staging_target_path: longName }));
      expect(s.code).toBe(3);
      expect(s.details).toContain('NAME_MAX');
      expect(Date.now() - t0).toBeLessThan(5_000);
    });
  });
});
