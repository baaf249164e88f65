import { constants, type Stats } from 'node:fs';
import { open, readdir, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { HoardError } from '../../lib/errors.js';
import { baseName, childPath, normalizePath } from './path.js';
import { checkRange, emptyStream, sliceStream, versionChanged } from './range.js';
import type { Ufs, UfsEntry } from './types.js';

const STAT_CONCURRENCY = 32;

/**
 * A local or NFS directory as under-storage. Every request is resolved with realpath and must land
 * inside the (real) root: '..' never gets this far (normalizePath), and a symlink that points out
 * of the tree is refused, so a dataset cannot be used to read the worker's own filesystem.
 *
 * A check on names alone races: a directory swapped for a symlink between the realpath and the
 * open sends the open outside the root (O_NOFOLLOW guards the last component only, and Node has
 * no openat). So every stat, listing and read opens the object first and then asks the kernel
 * what it holds (/proc/self/fd/N): only a descriptor inside the root is used, and sizes, times
 * and directory entries come from that descriptor, never from the name again.
 */
export class FileUfs implements Ufs {
  private realRootPromise?: Promise<string>;

  constructor(readonly root: string) {
    if (!isAbsolute(root)) {
      throw new HoardError('INVALID_ARGUMENT', `file mount root "${root}": must be an absolute path, like file:///data`);
    }
  }

  async stat(path: string): Promise<UfsEntry> {
    const { norm, fh, st } = await this.openInside(path);
    await fh.close().catch(() => undefined);
    return toEntry(norm, st);
  }

  async list(path: string): Promise<UfsEntry[]> {
    const { norm, fh, st } = await this.openInside(path, 'list');
    let names: string[];
    try {
      if (!st.isDirectory()) throw new HoardError('NOT_DIRECTORY', `${norm}: not a directory`);
      // The magic link names the directory we hold, whatever its name points at by now.
      names = await readdir(`/proc/self/fd/${fh.fd}`);
    } catch (e) {
      throw fsError(e, norm, 'list');
    } finally {
      await fh.close().catch(() => undefined);
    }
    names.sort();
    const out: UfsEntry[] = [];
    for (let i = 0; i < names.length; i += STAT_CONCURRENCY) {
      const batch = await Promise.all(names.slice(i, i + STAT_CONCURRENCY).map((n) => this.listedEntry(norm, n)));
      for (const e of batch) if (e) out.push(e);
    }
    return out;
  }

  async read(path: string, offset: number, length: number, signal?: AbortSignal, version?: string): Promise<Readable> {
    checkRange(offset, length);
    const { norm, fh, st } = await this.openInside(path);
    try {
      signal?.throwIfAborted();
      if (st.isDirectory()) throw new HoardError('IS_DIRECTORY', `${norm}: is a directory`);
      if (!st.isFile()) throw new HoardError('INVALID_ARGUMENT', `${norm}: not a regular file`);
      if (version !== undefined && version !== fileVersion(st)) throw versionChanged(norm, version, fileVersion(st));
      if (length === 0 || offset >= st.size) {
        await fh.close();
        return emptyStream();
      }
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
    const stream = fh.createReadStream({ start: offset, end: offset + length - 1 });
    if (signal) addAbortSignal(signal, stream);
    // Mid-read failures (EIO, ESTALE on NFS) reach the reader as HoardErrors too.
    return sliceStream(stream, 0, length, (e) => fsError(e, norm));
  }

  async close(): Promise<void> {
    // Nothing held open between calls: every read owns (and closes) its own descriptor.
  }

  /** One directory child, or undefined when it must not be shown (escaping symlink, fifo, raced delete). */
  private async listedEntry(dir: string, name: string): Promise<UfsEntry | undefined> {
    const p = childPath(dir, name);
    try {
      const { fh, st } = await this.openInside(p);
      await fh.close().catch(() => undefined);
      if (!st.isFile() && !st.isDirectory()) return undefined;
      return toEntry(p, st);
    } catch (e) {
      if (e instanceof HoardError && (e.code === 'PERMISSION_DENIED' || e.code === 'NOT_FOUND' || e.code === 'INVALID_ARGUMENT')) {
        return undefined;
      }
      throw e;
    }
  }

  private realRoot(): Promise<string> {
    if (!this.realRootPromise) {
      const p = realpath(this.root).catch((e) => {
        this.realRootPromise = undefined; // the root may appear later (an NFS mount coming up)
        const err = fsError(e, '/');
        throw new HoardError(err.code === 'NOT_FOUND' ? 'NOT_FOUND' : err.code, `file mount root ${this.root}: ${err.message}`, { cause: e });
      });
      this.realRootPromise = p;
    }
    return this.realRootPromise;
  }

  /**
   * Opens `path` (no symlink followed at the last step, no blocking on a FIFO) and proves through
   * the descriptor that the object lies inside the root; returns it with its fstat. The caller
   * closes `fh`.
   */
  private async openInside(path: string, op: 'resolve' | 'list' = 'resolve'): Promise<{ norm: string; fh: FileHandle; st: Stats }> {
    const { norm, real, root } = await this.resolve(path);
    const fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((e) => {
      throw fsError(e, norm, op);
    });
    try {
      const held = await readlink(`/proc/self/fd/${fh.fd}`);
      if (!isInside(held, root)) {
        throw new HoardError('PERMISSION_DENIED', `${norm}: was outside the mount root when opened (a symlink swapped in); refused`);
      }
      return { norm, fh, st: await fh.stat() };
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw fsError(e, norm, op);
    }
  }

  private async resolve(path: string): Promise<{ norm: string; real: string; root: string }> {
    const norm = normalizePath(path);
    const root = await this.realRoot();
    let real: string;
    try {
      real = await realpath(norm === '/' ? root : join(root, norm));
    } catch (e) {
      throw fsError(e, norm);
    }
    if (!isInside(real, root)) {
      throw new HoardError('PERMISSION_DENIED', `${norm}: resolves outside the mount root (symlink); refused`);
    }
    return { norm, real, root };
  }
}

function isInside(p: string, root: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

function toEntry(path: string, st: Stats): UfsEntry {
  const isDir = st.isDirectory();
  if (!isDir && !st.isFile()) throw new HoardError('INVALID_ARGUMENT', `${path}: not a regular file or directory`);
  return {
    path,
    name: baseName(path),
    isDir,
    size: isDir ? 0 : st.size,
    mtimeMs: st.mtimeMs,
    version: fileVersion(st),
  };
}

/** Maps errno to the shared vocabulary; `op` decides what ENOTDIR means. */
function fsError(e: unknown, path: string, op: 'resolve' | 'list' = 'resolve'): HoardError {
  if (e instanceof HoardError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return new HoardError('NOT_FOUND', `${path}: no such file or directory`, { cause: e });
    case 'ENOTDIR':
      return op === 'list'
        ? new HoardError('NOT_DIRECTORY', `${path}: not a directory`, { cause: e })
        : new HoardError('NOT_FOUND', `${path}: a parent is not a directory`, { cause: e });
    case 'EACCES':
    case 'EPERM':
      return new HoardError('PERMISSION_DENIED', `${path}: permission denied`, { cause: e });
    case 'ELOOP':
      return new HoardError('PERMISSION_DENIED', `${path}: symlink loop or symlink swapped in; refused`, { cause: e });
    case 'EISDIR':
      return new HoardError('IS_DIRECTORY', `${path}: is a directory`, { cause: e });
    case 'ENXIO':
      // A socket (or a FIFO nobody writes) cannot be opened: not something we serve.
      return new HoardError('INVALID_ARGUMENT', `${path}: not a regular file or directory`, { cause: e });
    case 'ENAMETOOLONG':
      return new HoardError('INVALID_ARGUMENT', `${path}: name too long`, { cause: e });
    default:
      // EIO, ESTALE (NFS server gone), ENOTCONN: the storage is there but not answering.
      return new HoardError('UNAVAILABLE', `${path}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
}

function fileVersion(st: { mtimeMs: number; size: number }): string {
  return `${st.mtimeMs}-${st.size}`;
}
