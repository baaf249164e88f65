import type { Logger } from '../../lib/log.js';
import type { DataClient, FileInfo } from '../../worker/client/types.js';
import { Errno, errnoFor } from './errno.js';
import type { Cb, StatfsLike, StatLike } from './fuse-native.js';
import { FileHandles } from './handles.js';
import { KernelVersions } from './kernel-versions.js';

const O_ACCMODE = 0o3;
const O_RDONLY = 0o0;
const O_TRUNC = 0o1000;
const W_OK = 2;
const BLOCK = 4096;
const STATFS_TTL_MS = 5000;
const STATFS_DEADLINE_MS = 2000;
const UINT32_MAX = 0xffff_ffff;

export interface OpsContext {
  client: DataClient;
  uid: number;
  gid: number;
  logger?: Logger;
}

/**
 * The fuse-native operation table for a Hoard namespace. Every operation is asynchronous (the
 * FUSE threads wait on the event loop, so nothing here may block it), and write-family
 * operations answer EROFS: Hoard is a read cache of storage it does not own.
 */
export function createHoardOps(ctx: OpsContext) {
  const { client, logger } = ctx;
  const handles = new FileHandles();
  const versions = new KernelVersions();
  let statfsCache: { at: number; value: StatfsLike } | undefined;

  const toStat = (info: FileInfo): StatLike => {
    const mtime = new Date(versions.mtimeMs(info));
    return {
      mode: info.isDir ? 0o40555 : 0o100444,
      size: info.isDir ? 4096 : info.size,
      uid: ctx.uid,
      gid: ctx.gid,
      nlink: info.isDir ? 2 : 1,
      blocks: info.isDir ? 8 : Math.ceil(info.size / 512),
      mtime,
      atime: mtime,
      ctime: mtime,
    };
  };

  // A path FUSE hands us is one the client accepts; a refusal just means "ask stat".
  const peekStat = (path: string): FileInfo | undefined => {
    try {
      return client.peekStat(path);
    } catch {
      return undefined;
    }
  };

  const fail = (op: string, path: string, err: unknown): number => {
    const errno = errnoFor(err);
    // ENOENT is routine (shells probe for files); anything else is worth an operator's eye.
    if (errno === Errno.ENOENT) logger?.debug({ op, path }, 'not found');
    else logger?.warn({ op, path, errno, err: err instanceof Error ? err.message : String(err) }, 'fuse operation failed');
    return errno;
  };

  // Every write-family operation: the callback is always the last argument.
  const denyWrite = (...args: unknown[]) => {
    process.nextTick(args[args.length - 1] as Cb, Errno.EROFS);
  };

  const computeStatfs = async (): Promise<StatfsLike> => {
    let capacity = 0;
    let used = 0;
    let files = 0;
    try {
      const stats = await Promise.race([
        client.stats(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('stats timed out')), STATFS_DEADLINE_MS).unref()),
      ]);
      for (const s of stats) {
        capacity += s.capacityBytes;
        used += s.usedBytes;
        files += s.filesCached;
      }
    } catch (err) {
      // df must still answer when workers are away; zeros say "capacity unknown" honestly.
      logger?.debug({ err: err instanceof Error ? err.message : String(err) }, 'statfs: worker stats unavailable');
    }
    const blocks = Math.min(UINT32_MAX, Math.floor(capacity / BLOCK));
    const free = Math.min(blocks, Math.floor(Math.max(0, capacity - used) / BLOCK));
    return { bsize: BLOCK, frsize: BLOCK, blocks, bfree: free, bavail: free, files: Math.min(UINT32_MAX, files), ffree: 0, favail: 0, namemax: 255 };
  };

  const ops = {
    init(cb: Cb) {
      process.nextTick(cb, 0);
    },

    getattr(path: string, cb: Cb<[StatLike?]>) {
      // Most lookups hit the client's metadata cache (a readdir fills it): answer those at once.
      // An open path shows the version its handles read (kernel-versions.ts).
      const known = peekStat(path);
      if (known) return cb(0, toStat(versions.current(path, known)));
      client.stat(path).then(
        (info) => cb(0, toStat(versions.current(path, info))),
        (err) => cb(fail('getattr', path, err)),
      );
    },

    access(path: string, mode: number, cb: Cb) {
      if (mode & W_OK) return process.nextTick(cb, Errno.EROFS);
      client.stat(path).then(
        () => cb(0),
        (err) => cb(fail('access', path, err)),
      );
    },

    readdir(path: string, cb: Cb<[string[]?, StatLike[]?]>) {
      client.list(path).then(
        (entries) => cb(0, entries.map((e) => e.name), entries.map((e) => toStat(versions.current(e.path, e)))),
        (err) => cb(fail('readdir', path, err)),
      );
    },

    open(path: string, flags: number, cb: Cb<[number?]>) {
      if ((flags & O_ACCMODE) !== O_RDONLY || flags & O_TRUNC) return process.nextTick(cb, Errno.EROFS);
      const opened = (info: FileInfo) => (info.isDir ? cb(Errno.EISDIR) : cb(0, handles.add({ path, info: versions.open(path, info) })));
      const known = peekStat(path);
      if (known) return opened(known);
      client.stat(path).then(opened, (err) => cb(fail('open', path, err)));
    },

    // fuse-native's read callback takes the byte count (or a negative errno) as its first argument.
    read(path: string, fh: number, buf: Buffer, len: number, pos: number, cb: (result: number) => void) {
      const file = handles.get(fh);
      if (!file) return process.nextTick(cb, Errno.EBADF);
      if (pos >= file.info.size) return process.nextTick(cb, 0);
      const n = client.readInto(file.path, pos, buf, Math.min(len, buf.length, file.info.size - pos), file.info);
      // Warm bytes come back as a plain number: no promise, no extra event-loop turn.
      if (typeof n === 'number') return cb(n);
      n.then(cb, (err) => cb(fail('read', path, err)));
    },

    release(_path: string, fh: number, cb: Cb) {
      const file = handles.get(fh);
      handles.release(fh);
      if (file) versions.release(file.path);
      process.nextTick(cb, 0);
    },

    statfs(_path: string, cb: Cb<[StatfsLike?]>) {
      const now = Date.now();
      if (statfsCache && now - statfsCache.at < STATFS_TTL_MS) return process.nextTick(cb, 0, statfsCache.value);
      computeStatfs().then((value) => {
        statfsCache = { at: Date.now(), value };
        cb(0, value);
      });
    },

    write: denyWrite,
    create: denyWrite,
    unlink: denyWrite,
    mkdir: denyWrite,
    rmdir: denyWrite,
    rename: denyWrite,
    link: denyWrite,
    symlink: denyWrite,
    mknod: denyWrite,
    truncate: denyWrite,
    ftruncate: denyWrite,
    chmod: denyWrite,
    chown: denyWrite,
    utimens: denyWrite,
    setxattr: denyWrite,
    removexattr: denyWrite,
  };
  return { ops, handles, versions };
}
