import { describe, expect, it } from 'vitest';
import { mountTableFromArgs, validateMountTable } from '../lib/mounts.js';
import { parseSize } from '../lib/units.js';

describe('mount table', () => {
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
