import { createRequire } from 'node:module';

// fuse-native is CommonJS without types; this file is the only place that touches it directly.
const FuseNative = createRequire(import.meta.url)('fuse-native') as FuseClass;

export type Cb<T extends unknown[] = []> = (err: number, ...rest: T) => void;

export interface StatLike {
  mode: number;
  size: number;
  uid: number;
  gid: number;
  nlink: number;
  blocks: number;
  mtime: Date;
  atime: Date;
  ctime: Date;
}

export interface StatfsLike {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  namemax: number;
}

export interface FuseInstance {
  mount(cb: (err: Error | null) => void): void;
  unmount(cb: (err: Error | null) => void): void;
}

interface FuseClass {
  new (mnt: string, ops: object, opts: object): FuseInstance & { _fuseOptions(): string };
}

/**
 * Creates a fuse-native instance whose libfuse options are exactly `options` (see
 * fuseOptionList), replacing fuse-native's own fixed option mapping.
 */
export function createFuse(dir: string, ops: object, options: string[], opTimeoutMs: number): FuseInstance {
  const fuse = new FuseNative(dir, ops, { timeout: opTimeoutMs, mkdir: false, force: false });
  const joined = options.join(',');
  fuse._fuseOptions = () => (joined ? `-o${joined}` : '');
  return fuse;
}
