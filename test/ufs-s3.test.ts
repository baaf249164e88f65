import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { MountSpec } from '../lib/mounts.js';
import { S3FastGet } from '../worker/ufs/s3-fast-get.js';
import { createUfs } from '../worker/ufs/factory.js';
import type { Ufs } from '../worker/ufs/types.js';
import { startS3Server, type S3Server } from './support/s3server.js';
import { bytes, drain, errorCode } from './support/ufs-helpers.js';

let s3: S3Server;
let tmp: string;
let goodCreds: string;
const opened: Ufs[] = [];
const big = bytes(700_000, 3);
// s3rver takes ~20 ms per PUT, so >1000 objects would dominate the run; a small page size
// (options.maxKeys) forces the same continuation-token pagination over many pages instead.
const MANY = 60;

function mount(extra: Partial<MountSpec> = {}, options: Record<string, string> = {}): Ufs {
  const u = createUfs({ name: 'train', uri: 's3://data/ds', credentialsDir: goodCreds, ...extra, options: { endpoint: s3.endpoint, ...options } });
  opened.push(u);
  return u;
}

async function credsDir(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(tmp, name);
  await mkdir(dir, { mode: 0o700 });
  for (const [k, v] of Object.entries(files)) await writeFile(join(dir, k), v + '\n', { mode: 0o600 });
  return dir;
}

async function putAll(keys: [string, Buffer | string][]): Promise<void> {
  for (let i = 0; i < keys.length; i += 16) {
    await Promise.all(keys.slice(i, i + 16).map(([k, v]) => s3.putObject('data', k, v)));
  }
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'hoard-ufs-s3-'));
  s3 = await startS3Server({ buckets: ['data'] });
  goodCreds = await credsDir('good', { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
  await putAll([
    ['ds/big.bin', big],
    ['ds/empty.txt', ''],
    ['ds/dir1/a.txt', 'alpha'],
    ['ds/dir1/sub/b.txt', 'beta'],
    ['ds/dir1/sub/deeper/c.txt', 'gamma'],
    ['ds/marker-only/', ''],
    ['outside/secret.txt', 'not part of the mount'],
    ['ds-sibling/x.txt', 'shares the prefix string but not the directory'],
    ...Array.from({ length: MANY }, (_, i): [string, string] => [`ds/many/f${String(i).padStart(5, '0')}`, `file ${i}`]),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(opened.map((u) => u.close()));
  await s3?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('S3Ufs against s3rver', () => {
  it('stats the root, files and prefix directories', async () => {
    const u = mount();
    expect(await u.stat('/')).toMatchObject({ path: '/', isDir: true });
    const f = await u.stat('/big.bin');
    expect(f).toMatchObject({ path: '/big.bin', name: 'big.bin', isDir: false, size: big.length });
    expect(f.version).toMatch(/^[0-9a-f]{32}$/); // the ETag, without quotes
    expect(f.mtimeMs).toBeGreaterThan(0);
    expect(await u.stat('/dir1')).toMatchObject({ path: '/dir1', isDir: true });
    expect(await u.stat('/dir1/sub/deeper')).toMatchObject({ path: '/dir1/sub/deeper', name: 'deeper', isDir: true });
    expect(await u.stat('/marker-only')).toMatchObject({ isDir: true });
    expect(await errorCode(u.stat('/nope'))).toBe('NOT_FOUND');
    expect(await errorCode(u.stat('/dir1/a.txt/x'))).toBe('NOT_FOUND');
  });

  it('lists one level, keeps out other prefixes, marker objects and siblings', async () => {
    const u = mount();
    expect((await u.list('/')).map((e) => [e.name, e.isDir])).toEqual([
      ['big.bin', false],
      ['dir1', true],
      ['empty.txt', false],
      ['many', true],
      ['marker-only', true],
    ]);
    expect((await u.list('/dir1')).map((e) => e.path)).toEqual(['/dir1/a.txt', '/dir1/sub']);
    expect((await u.list('/dir1/sub')).map((e) => e.path)).toEqual(['/dir1/sub/b.txt', '/dir1/sub/deeper']);
    expect(await u.list('/marker-only')).toEqual([]);
    expect(await errorCode(u.list('/big.bin'))).toBe('NOT_DIRECTORY');
    expect(await errorCode(u.list('/nope'))).toBe('NOT_FOUND');
  });

  it('paginates listings over many pages (options.maxKeys)', async () => {
    const want = Array.from({ length: MANY }, (_, i) => `f${String(i).padStart(5, '0')}`);
    for (const maxKeys of ['7', '59', '60', '1000']) {
      const u = mount({}, { maxKeys });
      const all = await u.list('/many');
      expect(all.map((e) => e.name), `maxKeys=${maxKeys}`).toEqual(want);
      expect(all.every((e) => !e.isDir && e.size > 0 && e.path === `/many/${e.name}`)).toBe(true);
    }
  });

  it('reads byte ranges exactly, including ranges crossing EOF', async () => {
    const u = mount();
    const cases: [number, number][] = [
      [0, big.length],
      [0, 1],
      [1, 65_536],
      [300_001, 123_456],
      [big.length - 100, 1000],
      [big.length - 1, 5],
      [big.length, 10],
      [big.length + 1000, 10],
      [5, 0],
    ];
    for (const [off, len] of cases) {
      const got = await drain(await u.read('/big.bin', off, len));
      expect(got.equals(big.subarray(off, off + len)), `${off}+${len}`).toBe(true);
    }
    expect((await drain(await u.read('/empty.txt', 0, 100))).length).toBe(0);
    expect((await drain(await u.read('/dir1/sub/deeper/c.txt', 1, 3))).toString()).toBe('amm');
    expect(await errorCode(u.read('/nope', 0, 10))).toBe('NOT_FOUND');
    expect(await errorCode(u.read('/big.bin', -1, 10))).toBe('INVALID_ARGUMENT');
    expect(await errorCode(u.read('/../outside/secret.txt', 0, 10))).toBe('INVALID_ARGUMENT');
  });

  it('reads through the lean signed GET, odd keys included, and leaves only errors to the SDK', async () => {
    const odd = ["sp ace+plus/ünï (1)!*'.bin", 'a=b&c;d,e@f$g.txt', 'tilde~dash-under_score.bin'];
    await putAll(odd.map((k, i): [string, string] => [`ds/odd/${k}`, `content ${i} of ${k}`]));
    const u = mount();
    const sdkGets = vi.spyOn(S3Client.prototype, 'send');
    try {
      for (const [i, k] of odd.entries()) {
        expect((await drain(await u.read(`/odd/${k}`, 0, 1000))).toString()).toBe(`content ${i} of ${k}`);
      }
      expect((await drain(await u.read('/big.bin', 1000, 5000))).equals(big.subarray(1000, 6000))).toBe(true);
      expect((await drain(await u.read('/big.bin', big.length + 10, 5))).length).toBe(0);
      const gets = () => sdkGets.mock.calls.filter(([cmd]) => cmd instanceof GetObjectCommand).length;
      expect(gets()).toBe(0);
      // A missing key gets a 404 on the lean path; the SDK repeats it and decodes the error.
      expect(await errorCode(u.read('/odd/missing.bin', 0, 10))).toBe('NOT_FOUND');
      expect(gets()).toBe(1);
    } finally {
      sdkGets.mockRestore();
    }
  });

  it('sends the same request path the SDK would, so real S3 accepts the signature', async () => {
    // s3rver does not check signatures; AWS signs the path exactly as sent. A capture server
    // records the raw paths the SDK and the lean GET send for awkward keys: they must be equal.
    const paths: string[] = [];
    const capture = createHttpServer((req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(500).end();
    });
    await new Promise<void>((r) => capture.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(capture.address() as { port: number }).port}`;
    const credentials = async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' });
    const agents = { httpAgent: new HttpAgent(), httpsAgent: new HttpsAgent() };
    const sdks: S3Client[] = [];
    try {
      // pathStyle false against an IP endpoint: both must still put the bucket in the path.
      for (const pathStyle of [true, false]) {
        const sdk = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: pathStyle, credentials, maxAttempts: 1 });
        sdks.push(sdk);
        const lean = new S3FastGet({ bucket: 'data', endpoint, region: 'us-east-1', pathStyle, credentials, ...agents, requestTimeoutMs: 5000, idleTimeoutMs: 5000 });
        for (const key of ["ds/sp ace+plus/ünï (1)!*'.bin", 'ds/a=b&c;d,e@f$g.txt', 'ds/tilde~dash-under_score.bin', 'ds/%41 literal percent']) {
          paths.length = 0;
          await sdk.send(new GetObjectCommand({ Bucket: 'data', Key: key, Range: 'bytes=0-9' })).catch(() => undefined);
          expect(await lean.get(key, 0, 9, 's3://data')).toBeUndefined(); // a 500 is left to the SDK
          expect(paths).toHaveLength(2);
          expect(paths[1]).toBe(paths[0]!.split('?')[0]);
        }
      }
    } finally {
      for (const sdk of sdks) sdk.destroy();
      capture.closeAllConnections();
      await new Promise((r) => capture.close(r));
    }
  });

  it('gives a new version when an object is overwritten', async () => {
    const u = mount();
    await s3.putObject('data', 'ds/changing.txt', 'one');
    const v1 = (await u.stat('/changing.txt')).version;
    await s3.putObject('data', 'ds/changing.txt', 'two!');
    const after = await u.stat('/changing.txt');
    expect(after.version).not.toBe(v1);
    expect(after.size).toBe(4);
    // A read that names the old version is refused on the GET itself; the current one is served.
    expect(await errorCode(u.read('/changing.txt', 0, 4, undefined, v1))).toBe('FAILED_PRECONDITION');
    expect((await drain(await u.read('/changing.txt', 0, 4, undefined, after.version))).toString()).toBe('two!');
  });

  it('mounts a whole bucket when the uri has no prefix', async () => {
    const u = mount({ uri: 's3://data' });
    const names = (await u.list('/')).map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(['ds', 'outside', 'ds-sibling']));
    expect((await drain(await u.read('/outside/secret.txt', 0, 3))).toString()).toBe('not');
  });

  describe('credentials', () => {
    it('reads them from credentialsDir (with optional sessionToken)', async () => {
      const dir = await credsDir('with-token', { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, sessionToken: 'tok' });
      const u = mount({ credentialsDir: dir });
      expect((await u.stat('/dir1/a.txt')).size).toBe(5);
    });

    it('maps an unknown key id to PERMISSION_DENIED without leaking the secret', async () => {
      const wrongId = mount({ credentialsDir: await credsDir('wrong-id', { accessKeyId: 'NOTAKEY', secretAccessKey: 'hunter2-secret' }) });
      const err = await wrongId.stat('/big.bin').catch((e) => e);
      expect(err.code).toBe('PERMISSION_DENIED');
      expect(String(err.message)).toMatch(/HTTP 403.*check the access key/);
      const listErr = await wrongId.list('/').catch((e) => e);
      expect(listErr.code).toBe('PERMISSION_DENIED');
      expect(String(listErr.message)).toMatch(/InvalidAccessKeyId/);
      for (const e of [err, listErr]) expect(String(e.message) + String(e.stack)).not.toContain('hunter2-secret');
      expect(await errorCode(wrongId.read('/big.bin', 0, 10))).toBe('PERMISSION_DENIED');
      expect(await errorCode(wrongId.stat('/'))).toBe('PERMISSION_DENIED');
    });

    it('maps a wrong secret (SignatureDoesNotMatch from the server) to PERMISSION_DENIED', async () => {
      // s3rver does not verify V4 signatures, so this answer comes from a stand-in endpoint that
      // replies the way AWS does to a bad secret; the SDK parses it as usual.
      const denying = createHttpServer((_req, res) => {
        res.writeHead(403, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>');
      });
      await new Promise<void>((r) => denying.listen(0, '127.0.0.1', r));
      try {
        const u = mount({}, { endpoint: `http://127.0.0.1:${(denying.address() as { port: number }).port}` });
        expect(await errorCode(u.read('/big.bin', 0, 10))).toBe('PERMISSION_DENIED');
        expect(await errorCode(u.list('/dir1'))).toBe('PERMISSION_DENIED');
      } finally {
        denying.closeAllConnections();
        await new Promise((r) => denying.close(r));
      }
    });

    it('refuses a credentialsDir without the secret file, naming the missing key', async () => {
      const dir = await credsDir('half', { accessKeyId: s3.accessKeyId });
      expect(() => mount({ credentialsDir: dir })).toThrow(/file "secretAccessKey" is missing/);
      expect(() => mount({ credentialsDir: join(tmp, 'absent') })).toThrow(/credentialsDir .*not a directory/);
    });

    it('falls back to the SDK default chain (environment) without credentialsDir', async () => {
      vi.stubEnv('AWS_ACCESS_KEY_ID', s3.accessKeyId);
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', s3.secretAccessKey);
      try {
        const u = mount({ credentialsDir: undefined });
        expect((await u.stat('/dir1/a.txt')).size).toBe(5);
      } finally {
        vi.unstubAllEnvs();
      }
    });
  });

  it('rejects bad options with the field name', () => {
    expect(() => mount({}, { pathStyle: 'yes' })).toThrow(/options\.pathStyle: "yes" must be "true" or "false"/);
    expect(() => mount({}, { endpoint: 'not a url' })).toThrow(/options\.endpoint/);
    expect(() => mount({}, { maxKeys: '5000' })).toThrow(/options\.maxKeys/);
    expect(() => mount({ uri: 's3:///prefix' })).toThrow(/has no bucket/);
  });

  it('reports a missing bucket as NOT_FOUND', async () => {
    const u = mount({ uri: 's3://no-such-bucket/x' });
    expect(await errorCode(u.stat('/'))).toBe('NOT_FOUND');
  });

  it('fails UNAVAILABLE within 10 s when the server is stopped, and recovers on restart', async () => {
    const u = mount();
    expect((await u.stat('/dir1/a.txt')).size).toBe(5);
    await s3.halt();
    try {
      for (const op of [() => u.stat('/dir1/a.txt'), () => u.list('/dir1'), () => u.read('/big.bin', 0, 100)]) {
        const outcome = await Promise.race([
          errorCode(op()),
          new Promise((r) => setTimeout(() => r('still waiting after 10 s'), 10_000).unref()),
        ]);
        expect(outcome).toBe('UNAVAILABLE');
      }
    } finally {
      await s3.restart();
    }
    // Same port and same data after the restart.
    const again = await drain(await u.read('/big.bin', 1000, 5000));
    expect(again.equals(big.subarray(1000, 6000))).toBe(true);
  });

  it('fails UNAVAILABLE within 10 s when the server accepts connections but never answers', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const u = mount({}, { endpoint: `http://127.0.0.1:${port}`, requestTimeoutMs: '1500' });
      const outcome = await Promise.race([
        errorCode(u.stat('/big.bin')),
        new Promise((r) => setTimeout(() => r('still waiting after 10 s'), 10_000).unref()),
      ]);
      expect(outcome).toBe('UNAVAILABLE');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});
