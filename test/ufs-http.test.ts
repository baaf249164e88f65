import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MountSpec } from '../lib/mounts.js';
import { createUfs } from '../worker/ufs/factory.js';
import type { Ufs } from '../worker/ufs/types.js';
import { bytes, drain, errorCode } from './support/ufs-helpers.js';

const big = bytes(500_000, 11);
const FILES = new Map<string, Buffer>([
  ['/big.bin', big],
  ['/empty', Buffer.alloc(0)],
  ['/dir/a.txt', Buffer.from('alpha')],
  ['/dir/sub/b.txt', Buffer.from('beta')],
  ['/with space.txt', Buffer.from('spaced')],
]);
const MANIFEST = '# comment\nbig.bin\nempty\n\ndir/a.txt\n/dir/sub/b.txt\nwith space.txt\nlisted-but-gone.txt\n';
const LAST_MODIFIED = 'Tue, 02 Jan 2024 03:04:05 GMT';

/**
 * One server, several behaviours chosen by the first path segment:
 *   /ok/      proper single-range 206 answers
 *   /norange/ ignores Range, always 200 with the whole file
 *   /aligned/ answers 206 starting at the 4 KiB boundary below the asked offset
 *   /wrong/   answers 206 starting after the asked offset (must be refused)
 *   /nohead/  405 on HEAD (size comes from a one-byte GET)
 *   /gzip/    compresses despite Accept-Encoding: identity (must be refused)
 *   /redirect/ 302 to /ok/
 *   /denied/  403, /broken/ 500
 */
function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const [, mode, ...rest] = decodeURIComponent(url.pathname).split('/');
  const file = '/' + rest.join('/');
  if (mode === 'redirect') {
    res.writeHead(302, { location: `/ok${url.pathname.slice('/redirect'.length)}` }).end();
    return;
  }
  if (mode === 'denied') return void res.writeHead(403).end('no');
  if (mode === 'broken') return void res.writeHead(500).end('oops');
  if (file === '/index.txt') return void res.writeHead(200, { 'content-type': 'text/plain' }).end(MANIFEST);
  const body = FILES.get(file);
  if (!body) return void res.writeHead(404).end('not found');
  const headers = { etag: `"v-${body.length}"`, 'last-modified': LAST_MODIFIED, 'accept-ranges': 'bytes' };
  if (req.method === 'HEAD') {
    if (mode === 'nohead') return void res.writeHead(405).end();
    return void res.writeHead(200, { ...headers, 'content-length': body.length }).end();
  }
  if (mode === 'gzip') {
    const z = gzipSync(body);
    return void res.writeHead(200, { ...headers, 'content-encoding': 'gzip', 'content-length': z.length }).end(z);
  }
  const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
  if (!m || mode === 'norange') return void res.writeHead(200, { ...headers, 'content-length': body.length }).end(body);
  let start = Number(m[1]);
  const end = Math.min(Number(m[2]), body.length - 1);
  if (start >= body.length) return void res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
  if (mode === 'aligned') start -= start % 4096;
  if (mode === 'wrong') start = Math.min(start + 1, end);
  const slice = body.subarray(start, end + 1);
  res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${body.length}`, 'content-length': slice.length }).end(slice);
}

let server: Server;
let base: string;
const opened: Ufs[] = [];

function mount(path: string, options: Record<string, string> = {}, extra: Partial<MountSpec> = {}): Ufs {
  const u = createUfs({ name: 'web', uri: `${base}${path}`, options, ...extra });
  opened.push(u);
  return u;
}

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await Promise.allSettled(opened.map((u) => u.close()));
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const RANGES: [number, number][] = [
  [0, big.length],
  [0, 1],
  [1, 65_536],
  [4095, 4097],
  [250_001, 100_000],
  [big.length - 100, 1000],
  [big.length - 1, 1],
  [big.length, 10],
  [big.length + 7, 10],
  [3, 0],
];

async function expectExactRanges(u: Ufs): Promise<void> {
  for (const [off, len] of RANGES) {
    const got = await drain(await u.read('/big.bin', off, len));
    expect(got.equals(big.subarray(off, off + len)), `${off}+${len}`).toBe(true);
  }
}

describe('HttpUfs', () => {
  it('stats via HEAD: size, ETag version, Last-Modified', async () => {
    const u = mount('/ok/');
    expect(await u.stat('/big.bin')).toEqual({
      path: '/big.bin',
      name: 'big.bin',
      isDir: false,
      size: big.length,
      mtimeMs: Date.parse(LAST_MODIFIED),
      version: `v-${big.length}`,
    });
    expect((await u.stat('/with space.txt')).size).toBe(6);
    expect(await errorCode(u.stat('/missing'))).toBe('NOT_FOUND');
  });

  it('reads byte-exact ranges from a server honouring Range', async () => {
    await expectExactRanges(mount('/ok'));
  });

  it('checks a versioned read against the response\'s ETag', async () => {
    const u = mount('/ok/');
    const got = await drain(await u.read('/big.bin', 10, 100, undefined, `v-${big.length}`));
    expect(got.equals(big.subarray(10, 110))).toBe(true);
    expect(await errorCode(u.read('/big.bin', 10, 100, undefined, 'v-old'))).toBe('FAILED_PRECONDITION');
  });

  it('still returns the right bytes when the server ignores Range (200 + whole body)', async () => {
    await expectExactRanges(mount('/norange/'));
  });

  it('skips ahead when a 206 starts before the asked offset', async () => {
    await expectExactRanges(mount('/aligned/'));
  });

  it('refuses a 206 that starts after the asked offset rather than return wrong bytes', async () => {
    const u = mount('/wrong/');
    expect(await errorCode(u.read('/big.bin', 1000, 10))).toBe('UNAVAILABLE');
  });

  it('refuses content-encoded bodies (ranges would not match the file)', async () => {
    expect(await errorCode(mount('/gzip/').read('/big.bin', 0, 10))).toBe('UNAVAILABLE');
  });

  it('falls back to a one-byte GET when HEAD is not allowed', async () => {
    const u = mount('/nohead/');
    expect(await u.stat('/big.bin')).toMatchObject({ size: big.length, version: `v-${big.length}` });
    expect((await u.stat('/empty')).size).toBe(0);
  });

  it('follows redirects', async () => {
    const u = mount('/redirect/');
    expect((await u.stat('/dir/a.txt')).size).toBe(5);
    expect((await drain(await u.read('/dir/a.txt', 1, 3))).toString()).toBe('lph');
  });

  it('derives directories from options.files', async () => {
    const u = mount('/ok/', { files: 'big.bin, dir/a.txt,dir/sub/b.txt,with space.txt' });
    expect(await u.stat('/')).toMatchObject({ isDir: true });
    expect(await u.stat('/dir/sub')).toMatchObject({ path: '/dir/sub', isDir: true });
    expect((await u.list('/')).map((e) => [e.name, e.isDir, e.size])).toEqual([
      ['big.bin', false, big.length],
      ['dir', true, 0],
      ['with space.txt', false, 6],
    ]);
    expect((await u.list('/dir')).map((e) => e.path)).toEqual(['/dir/a.txt', '/dir/sub']);
    expect(await errorCode(u.stat('/empty'))).toBe('NOT_FOUND'); // exists on the server, not listed
    expect(await errorCode(u.list('/big.bin'))).toBe('NOT_DIRECTORY');
    expect(await errorCode(u.read('/dir', 0, 1))).toBe('IS_DIRECTORY');
    expect(await errorCode(u.list('/nope'))).toBe('NOT_FOUND');
  });

  it('derives directories from a manifest URL, skipping listed files the server lacks', async () => {
    const u = mount('/ok/', { manifest: 'index.txt' });
    expect((await u.list('/')).map((e) => e.name)).toEqual(['big.bin', 'dir', 'empty', 'with space.txt']);
    expect((await u.list('/dir/sub')).map((e) => [e.path, e.size])).toEqual([['/dir/sub/b.txt', 4]]);
    expect((await drain(await u.read('/dir/sub/b.txt', 0, 100))).toString()).toBe('beta');
    const absolute = mount('/norange/', { manifest: `${base}/ok/index.txt` });
    expect((await absolute.list('/dir')).map((e) => e.name)).toEqual(['a.txt', 'sub']);
  });

  it('without a listing, opens files by name and shows an empty root', async () => {
    const u = mount('/ok/');
    expect(await u.list('/')).toEqual([]);
    expect(await errorCode(u.list('/big.bin'))).toBe('NOT_DIRECTORY');
  });

  it('maps HTTP statuses and refuses path escapes', async () => {
    expect(await errorCode(mount('/denied/').stat('/x'))).toBe('PERMISSION_DENIED');
    expect(await errorCode(mount('/broken/').read('/x', 0, 1))).toBe('UNAVAILABLE');
    expect(await errorCode(mount('/ok/').read('/missing', 0, 1))).toBe('NOT_FOUND');
    expect(await errorCode(mount('/ok/').read('/../denied/x', 0, 1))).toBe('INVALID_ARGUMENT');
    expect(() => mount('/ok/', { files: 'a,../b' })).toThrow(/options\.files entry 2 "\.\.\/b"/);
  });

  it('fails UNAVAILABLE within 10 s against a closed port and a server that never answers', async () => {
    const sockets: Socket[] = [];
    const silent = createTcpServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentPort = (silent.address() as { port: number }).port;
    const closed = createTcpServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    try {
      for (const uri of [`http://127.0.0.1:${closedPort}/`, `http://127.0.0.1:${silentPort}/`]) {
        const u = createUfs({ name: 'dead', uri, options: { requestTimeoutMs: '1500' } });
        opened.push(u);
        const outcome = await Promise.race([
          errorCode(u.read('/big.bin', 0, 10)),
          new Promise((r) => setTimeout(() => r('still waiting after 10 s'), 10_000).unref()),
        ]);
        expect(outcome, uri).toBe('UNAVAILABLE');
      }
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});
