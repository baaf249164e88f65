// Pure checks of the CSI plugin's request validation, secret handling and state file.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KeyedLock } from '../csi/node/keyed-lock.js';
import { StateStore } from '../csi/node/state.js';
import { socketPathOf } from '../csi/server/server.js';
import { parseSecrets, parseSubPath, parseVolumeContext, redactRequest } from '../csi/server/validation.js';

const base = {
  dataset: 'imagenet',
  namespace: 'ml',
  workers: 'srv:_grpc._tcp.imagenet-worker.ml.svc.cluster.local',
  mounts: JSON.stringify({ mounts: [{ name: 'train', uri: 's3://b/train' }, { name: 'labels', uri: 'file:///nfs/labels' }] }),
};

describe('volume context', () => {
  it('parses the operator contract, ignoring kubelet-added keys', () => {
    const c = parseVolumeContext({ ...base, 'fuse.attrTimeout': '2', replication: '2', 'csi.storage.k8s.io/pod.name': 'p' });
    expect(c.workers).toEqual({ srv: '_grpc._tcp.imagenet-worker.ml.svc.cluster.local' });
    expect(c.attrTimeoutSec).toBe(2);
    expect(c.replication).toBe(2);
    expect(parseVolumeContext({ ...base, workers: 'static:w0=10.0.0.1:9400,w1=10.0.0.2:9400' }).workers).toEqual({ static: ['w0=10.0.0.1:9400', 'w1=10.0.0.2:9400'] });
  });

  it('names the bad key', () => {
    expect(() => parseVolumeContext({ ...base, replication: '0' })).toThrow(/volume_context.replication/);
    expect(() => parseVolumeContext({ ...base, readOnly: 'yes' })).toThrow(/volume_context.readOnly/);
    expect(() => parseVolumeContext({ ...base, workers: 'static:w0=nohost' })).toThrow(/volume_context.workers/);
  });

  it('rejects sub-paths that climb out', () => {
    expect(parseSubPath('train//a/./b/')).toBe('train/a/b');
    expect(parseSubPath('/')).toBe('');
    expect(() => parseSubPath('train/../../x')).toThrow(/subPath/);
  });
});

describe('secrets', () => {
  const mounts = parseVolumeContext(base).mounts;
  it('applies unscoped keys to s3 mounts and scoped keys to their mount', () => {
    const creds = parseSecrets({ accessKeyId: 'A', secretAccessKey: 'S', 'labels.accessKeyId': 'B', 'labels.secretAccessKey': 'T' }, mounts);
    expect(creds.get('train')).toEqual({ accessKeyId: 'A', secretAccessKey: 'S' });
    expect(creds.get('labels')).toEqual({ accessKeyId: 'B', secretAccessKey: 'T' });
  });

  it('errors name keys, never values', () => {
    expect(() => parseSecrets({ accessKeyId: 'TOPSECRET' }, mounts)).toThrow(/secretAccessKey/);
    try {
      parseSecrets({ 'nomount.accessKeyId': 'TOPSECRET' }, mounts);
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toContain('nomount');
      expect((err as Error).message).not.toContain('TOPSECRET');
    }
    const logged = JSON.stringify(redactRequest({ volume_id: 'v', secrets: { secretAccessKey: 'TOPSECRET' } }));
    expect(logged).not.toContain('TOPSECRET');
    expect(logged).toContain('secretAccessKey');
  });
});

describe('plumbing', () => {
  it('accepts the endpoint forms kubelet deployments use', () => {
    expect(socketPathOf('unix:///csi/csi.sock')).toBe('/csi/csi.sock');
    expect(socketPathOf('unix:/csi/csi.sock')).toBe('/csi/csi.sock');
    expect(() => socketPathOf('tcp://1.2.3.4:5')).toThrow(/--endpoint/);
  });

  it('writes the state file atomically and reloads it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoard-csi-state-'));
    try {
      const a = new StateStore(dir);
      await a.load();
      const rec = { volumeId: 'v1', stagingPath: '/s', capability: { accessMode: 'MULTI_NODE_READER_ONLY', fsType: '', mountFlags: [] }, config: parseVolumeContext(base), dir: '/d', publishes: {} };
      await Promise.all([a.put(rec), a.put({ ...rec, volumeId: 'v2' })]);
      expect(await readdir(dir)).toEqual(['state.json']); // no tmp file left behind
      const b = new StateStore(dir);
      await b.load();
      expect(b.all().map((v) => v.volumeId).sort()).toEqual(['v1', 'v2']);
      expect(JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')).version).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('serializes per key and runs different keys in parallel', async () => {
    const lock = new KeyedLock();
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = lock.run('a', async () => {
      await gate;
      order.push('a1');
    });
    const second = lock.run('a', async () => void order.push('a2'));
    await lock.run('b', async () => void order.push('b'));
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['b', 'a1', 'a2']);
  });
});
