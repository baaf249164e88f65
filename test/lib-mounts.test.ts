import { describe, expect, it } from 'vitest';
import { mountTableFromArgs, validateMountTable } from '../lib/mounts.js';
import { parseSize } from '../lib/units.js';

function hostVol(mountPath: string) {
  return { name: 'ufs-0', mountPath, source: { hostPath: { path: '/srv/data', type: 'Directory' as const } } };
}

describe('mount table', () => {
  it('accepts a file:// mount on a read-only Kubernetes volume mounted where its uri points', () => {
    const pvc = { name: 'ufs-1', mountPath: '/hoard/ufs/b', namespace: 'ml', source: { persistentVolumeClaim: { claimName: 'data', readOnly: true as const } } };
    const t = validateMountTable({ mounts: [{ name: 'a', uri: 'file:///hoard/ufs/a', volume: hostVol('/hoard/ufs/a') }, { name: 'b', uri: 'file:///hoard/ufs/b/sub/dir', volume: pvc }] });
    expect(t.mounts[1]!.volume).toEqual(pvc);
  });
  it('builds a namespace from name=uri arguments with query options', () => {
    const t = mountTableFromArgs(['train=s3://b/train?endpoint=http://127.0.0.1:9000&region=eu-west-1', 'labels=file:///nfs/labels']);
    expect(t.mounts).toEqual([
      { name: 'train', uri: 's3://b/train', options: { endpoint: 'http://127.0.0.1:9000', region: 'eu-west-1' } },
      { name: 'labels', uri: 'file:///nfs/labels' },
    ]);
  });
  it('names a single bare URI "data"', () => {
    expect(mountTableFromArgs(['file:///x']).mounts[0]!.name).toBe('data');
  });
  it.each([
    [{ mounts: [] }, /at least one mount/],
    [{ mounts: [{ name: 'A', uri: 'file:///x' }] }, /mounts\[0\]\.name/],
    [{ mounts: [{ name: 'a', uri: 'ftp://x' }] }, /mounts\[0\]\.uri: scheme "ftp:"/],
    [{ mounts: [{ name: 'a', uri: 's3://key:secret@bucket' }] }, /credentials must not be in the URI/],
    [{ mounts: [{ name: 'a', uri: 'file:///x' }, { name: 'a', uri: 'file:///y' }] }, /used twice/],
    [{ mounts: [{ name: 'a', uri: 'file:///x', options: { n: 1 } }] }, /mounts\[0\]\.options\.n/],
    [{ mounts: [{ name: 'a', uri: 'file:///elsewhere', volume: hostVol('/hoard/ufs/a') }] }, /mounts\[0\]\.volume: the mount's uri must be file:\/\/\/hoard\/ufs\/a/],
    [{ mounts: [{ name: 'a', uri: 'file:///hoard/ufs/a', volume: { ...hostVol('/hoard/ufs/a'), name: 'Bad_Name' } }] }, /mounts\[0\]\.volume\.name/],
    [{ mounts: [{ name: 'a', uri: 'file:///hoard/ufs/a', volume: { ...hostVol('/hoard/ufs/a'), source: {} } }] }, /mounts\[0\]\.volume\.source: exactly one/],
    [{ mounts: [{ name: 'a', uri: 'file:///hoard/ufs/a', volume: { ...hostVol('/hoard/ufs/a'), source: { hostPath: { path: '/srv/../etc', type: 'Directory' } } } }] }, /source\.hostPath\.path/],
    [{ mounts: [{ name: 'a', uri: 'file:///hoard/ufs/a', volume: { ...hostVol('/hoard/ufs/a'), source: { nfs: { server: 'nfs', path: '/x', readOnly: false } } } }] }, /source\.nfs\.readOnly/],
    [{ mounts: [{ name: 'a', uri: 'file:///hoard/ufs/a', volume: { ...hostVol('/hoard/ufs/a'), source: { emptyDir: {} } } }] }, /source\.emptyDir: not supported/],
    [{ mounts: [{ name: 'a', uri: 'file:///hoard/ufs/a', volume: hostVol('/hoard/ufs/a') }, { name: 'b', uri: 'file:///hoard/ufs/a', volume: hostVol('/hoard/ufs/a') }] }, /mounts\[1\]\.volume\.name: "ufs-0" is used twice/],
  ])('rejects %j naming the field', (table, msg) => {
    expect(() => validateMountTable(table)).toThrow(msg);
  });
});

describe('sizes', () => {
  it('parses Kubernetes quantities', () => {
    expect(parseSize('8Gi')).toBe(8 * 2 ** 30);
    expect(parseSize('512Mi')).toBe(512 * 2 ** 20);
    expect(parseSize('1G')).toBe(1e9);
    expect(parseSize('4096')).toBe(4096);
  });
  it('names the field in errors', () => {
    expect(() => parseSize('lots', 'tieredStore.levels[0].quota')).toThrow(/tieredStore\.levels\[0\]\.quota: "lots" is not a size/);
  });
});
