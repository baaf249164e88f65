import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mountTableFromArgs } from '../lib/mounts.js';
import { createNamespace, Namespace } from '../worker/ufs/namespace.js';
import { startS3Server, type S3Server } from './support/s3server.js';
import { bytes, drain, errorCode } from './support/ufs-helpers.js';

let s3: S3Server;
let tmp: string;
let ns: Namespace;
const shard = bytes(200_000, 5);

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'hoard-ufs-ns-'));
  s3 = await startS3Server({ buckets: ['datasets'] });
  await s3.putObject('datasets', 'imagenet/train/shard-0.tar', shard);
  await s3.putObject('datasets', 'imagenet/train/meta/classes.txt', 'cat\ndog\n');
  const creds = join(tmp, 'creds');
  await mkdir(creds, { mode: 0o700 });
  await writeFile(join(creds, 'accessKeyId'), s3.accessKeyId);
  await writeFile(join(creds, 'secretAccessKey'), s3.secretAccessKey);
  const labels = join(tmp, 'labels');
  await mkdir(join(labels, 'v1'), { recursive: true });
  await writeFile(join(labels, 'v1', 'labels.csv'), 'id,label\n1,cat\n');
  ns = createNamespace({
    mounts: [
      { name: 'train', uri: 's3://datasets/imagenet/train', options: { endpoint: s3.endpoint }, credentialsDir: creds, readOnly: true },
      { name: 'labels', uri: pathToFileURL(labels).href, readOnly: false },
    ],
  });
});

afterAll(async () => {
  await ns?.close();
  await s3?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('Namespace', () => {
  it("lists mount names at '/'", async () => {
    expect(await ns.list('/')).toEqual([
      { path: '/labels', name: 'labels', isDir: true, size: 0, mtimeMs: 0, version: '' },
      { path: '/train', name: 'train', isDir: true, size: 0, mtimeMs: 0, version: '' },
    ]);
    expect(await ns.stat('/')).toMatchObject({ path: '/', isDir: true });
  });

  it('routes paths to the S3 mount and re-roots the entries', async () => {
    expect(await ns.stat('/train')).toMatchObject({ path: '/train', name: 'train', isDir: true });
    expect((await ns.list('/train')).map((e) => [e.path, e.isDir])).toEqual([
      ['/train/meta', true],
      ['/train/shard-0.tar', false],
    ]);
    const f = await ns.stat('/train/shard-0.tar');
    expect(f).toMatchObject({ path: '/train/shard-0.tar', name: 'shard-0.tar', size: shard.length });
    const got = await drain(await ns.read('/train/shard-0.tar', 199_990, 100));
    expect(got.equals(shard.subarray(199_990))).toBe(true);
    expect((await drain(await ns.read('/train/meta/classes.txt', 0, 3))).toString()).toBe('cat');
  });

  it('routes paths to the folder mount in the same tree', async () => {
    expect((await ns.list('/labels')).map((e) => e.path)).toEqual(['/labels/v1']);
    expect((await ns.list('/labels/v1')).map((e) => [e.path, e.size])).toEqual([['/labels/v1/labels.csv', 15]]);
    expect((await drain(await ns.read('/labels/v1/labels.csv', 9, 100))).toString()).toBe('1,cat\n');
  });

  it('answers isReadOnly per mount; the root is read-only', () => {
    expect(ns.isReadOnly('/train/shard-0.tar')).toBe(true);
    expect(ns.isReadOnly('/labels/v1/labels.csv')).toBe(false);
    expect(ns.isReadOnly('/labels')).toBe(false);
    expect(ns.isReadOnly('/')).toBe(true);
    expect(ns.isReadOnly('/nope/x')).toBe(true);
  });

  it('maps unknown mounts, escapes and directory reads to errors', async () => {
    expect(await errorCode(ns.stat('/nope'))).toBe('NOT_FOUND');
    expect(await errorCode(ns.list('/nope/x'))).toBe('NOT_FOUND');
    expect(await errorCode(ns.stat('/train/../labels'))).toBe('INVALID_ARGUMENT');
    expect(await errorCode(ns.read('/labels/../../etc/passwd', 0, 10))).toBe('INVALID_ARGUMENT');
    expect(await errorCode(ns.read('/', 0, 1))).toBe('IS_DIRECTORY');
    expect(await errorCode(ns.read('/labels/v1', 0, 1))).toBe('IS_DIRECTORY');
    expect(await errorCode(ns.stat('/train/missing'))).toBe('NOT_FOUND');
  });

  it('rejects a bad mount table naming the field', () => {
    expect(() => createNamespace({ mounts: [{ name: 'Bad Name', uri: 'file:///tmp' }] })).toThrow(/mounts\[0\]\.name/);
    expect(() => createNamespace({ mounts: [{ name: 'x', uri: 'ftp://host/x' }] })).toThrow(/mounts\[0\]\.uri: scheme "ftp:"/);
  });

  it('builds from CLI-style args with options in the query', async () => {
    const fromArgs = createNamespace(mountTableFromArgs([`imgs=s3://datasets/imagenet?endpoint=${s3.endpoint}`, `lbl=${pathToFileURL(join(tmp, 'labels')).href}`]));
    try {
      expect(fromArgs.mountNames()).toEqual(['imgs', 'lbl']);
      vi.stubEnv('AWS_ACCESS_KEY_ID', s3.accessKeyId);
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', s3.secretAccessKey);
      expect((await fromArgs.list('/imgs')).map((e) => e.path)).toEqual(['/imgs/train']);
    } finally {
      vi.unstubAllEnvs();
      await fromArgs.close();
    }
  });
});
