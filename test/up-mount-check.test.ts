// `hoard up` and `hoard mount` check every mount once at start against real stores (an
// S3-protocol server, a folder, an HTTP port nobody listens on): each unreadable mount is named
// on the terminal with its reason and fix, and the command exits 1 unless --allow-unready.
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountsContain, spawnHoard } from './fuse-helpers.js';
import { startS3Server, type S3Server } from './support/s3server.js';
import { startWorkers } from './support/workers.js';
import { upHarness } from './up-harness.js';

const h = upHarness();
let s3: S3Server;

beforeAll(async () => {
  s3 = await startS3Server({ buckets: ['ds'] });
  await s3.putObject('ds', 'data/a.txt', 'hello');
});

afterAll(async () => {
  await s3?.stop();
});

const q = (): string => `?endpoint=${s3.endpoint}&region=us-east-1&pathStyle=true`;
const goodEnv = (): Record<string, string> => ({ AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey });

/** A port nothing listens on (it just closed). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function upArgs(ufs: string[]): string[] {
  return [...ufs.flatMap((u) => ['--ufs', u]), '--cache-dir', join(h.root, 'cache'), '--mount', h.mnt, '--workers', '1', '--mem', '16Mi', '--disk', '0'];
}

describe('hoard up checks every mount at start', () => {
  it('names a missing bucket, a missing folder and an unreachable server, each with a fix, and exits 1 without mounting', async () => {
    const closed = await closedPort();
    const up = spawnHoard(['up', ...upArgs([`data=s3://nosuchbucket/data${q()}`, `local=file://${join(h.root, 'nothing-here')}`, `web=http://127.0.0.1:${closed}/files/`])], goodEnv());
    expect((await up.exited).code).toBe(1);
    const err = up.stderr();
    expect(err).toContain('hoard up: mount data: s3://nosuchbucket/data: bucket does not exist; check the');
    expect(err).toMatch(new RegExp(`hoard up: mount local: file://${join(h.root, 'nothing-here')}: .*no such file or directory.*; check the uri`));
    expect(err).toContain(`hoard up: mount web: http://127.0.0.1:${closed}/files/: cannot reach the server (ECONNREFUSED); check that the server is running`);
    expect(err).toContain('3 of 3 mount(s) cannot be read (data, local, web); fix them, or start anyway with --allow-unready');
    expect(err).not.toContain('starting 1 worker');
    expect(await mountsContain(h.mnt)).toBe(false);
  }, 60_000);

  it('names refused credentials', async () => {
    const up = spawnHoard(['up', ...upArgs([`data=s3://ds/data${q()}`])], { AWS_ACCESS_KEY_ID: 'WRONG', AWS_SECRET_ACCESS_KEY: 'WRONG-SECRET' });
    expect((await up.exited).code).toBe(1);
    expect(up.stderr()).toMatch(/hoard up: mount data: s3:\/\/ds\/data: .*access denied .*; check the access key and secret/);
    expect(up.stderr()).not.toContain('WRONG-SECRET');
  }, 60_000);

  it('starts with --allow-unready, saying which mounts are unreadable, and serves the others', async () => {
    const src = join(h.root, 'src');
    await mkdir(src);
    await writeFile(join(src, 'ok.txt'), 'fine');
    await h.start([...upArgs([`good=file://${src}`, `gone=file://${join(h.root, 'nothing-here')}`]), '--allow-unready']);
    expect(h.up.stderr()).toContain('hoard up: mount gone: ');
    expect(h.up.stderr()).toContain('starting anyway (--allow-unready): gone unreadable until the storage answers');
    const { readFile } = await import('node:fs/promises');
    expect(await readFile(join(h.mnt, 'good', 'ok.txt'), 'utf8')).toBe('fine');
    await h.stopAndCheck();
  }, 90_000);
});

describe('hoard mount checks every mount at start, through the workers', () => {
  it('exits 1 naming the unreadable mount; mounts with --allow-unready', async () => {
    const src = join(h.root, 'src');
    await mkdir(src);
    const group = await startWorkers(1, { ufs: [`good=file://${src}`, `gone=file://${join(h.root, 'nothing-here')}`], disk: '0' });
    try {
      const refused = spawnHoard(['mount', h.mnt, '--workers', group.addresses().join(',')]);
      expect((await refused.exited).code).toBe(1);
      expect(refused.stderr()).toMatch(/hoard mount: mount gone: .*no such file or directory; check the uri/);
      expect(refused.stderr()).toContain('1 of 2 mount(s) cannot be read (gone)');
      expect(await mountsContain(h.mnt)).toBe(false);
      const allowed = spawnHoard(['mount', h.mnt, '--workers', group.addresses().join(','), '--allow-unready']);
      await allowed.waitFor('mounted', 30_000);
      expect(allowed.stderr()).toContain('starting anyway (--allow-unready): gone');
      allowed.proc.kill('SIGTERM');
      expect((await allowed.exited).code).toBe(0);
    } finally {
      await group.stop();
    }
  }, 90_000);
});
