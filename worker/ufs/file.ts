import { constants, type Stats } from 'node:fs';
import { open, readdir, realpath, stat } from 'node:fs/promises';
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
 */
export class FileUfs implements Ufs {
  private realRootPromise?: Promise<string>;

  constructor(readonly root: string) {
    if (!isAbsolute(root)) {
      throw new HoardError('INVALID_ARGUMENT', `file mount root "${root}": must be an absolute path, like file:///data`);
    }
  }

  async stat(path: string): Promise<UfsEntry> {
    const { norm, real } = await this.resolve(path);
    let st: Stats;
    try {
      st = await stat(real);
    } catch (e) {
      throw fsError(e, norm);
    }
    return toEntry(norm, st);
  }

  async list(path: string): Promise<UfsEntry[]> {
    const { norm, real } = await this.resolve(path);
    let names: string[];
    try {
      names = await readdir(real);
    } catch (e) {
      throw fsError(e, norm, 'list');
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
    const { norm, real } = await this.resolve(path);
    signal?.throwIfAborted();
    // O_NOFOLLOW: `real` has no symlinks; if the last component was swapped for one since the
    // realpath check, the open fails instead of following it out of the root. O_NONBLOCK: opening
    // a FIFO would otherwise block a libuv thread until some writer shows up (no effect on files).
    const fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((e) => {
      throw fsError(e, norm);
    });
    try {
      const st = await fh.stat();
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
      const { real } = await this.resolve(p);
      const st = await stat(real);
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

  private async resolve(path: string): Promise<{ norm: string; real: string }> {
    const norm = normalizePath(path);
    const root = await this.realRoot();
    let real: string;
    try {
      real = await realpath(norm === '/' ? root : join(root, norm));
    } catch (e) {
      throw fsError(e, norm);
    }
    if (real !== root && !real.startsWith(root.endsWith(sep) ? root : root + sep)) {
      throw new HoardError('PERMISSION_DENIED', `${norm}: resolves outside the mount root (symlink); refused`);
    }
    return { norm, real };
  }
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
