import type { FileInfo } from '../../worker/client/types.js';

/** Paths whose last reported mtime is remembered (about 150 bytes each). */
const MAX_REPORTED = 50_000;

interface Pinned {
  info: FileInfo;
  handles: number;
}

/**
 * Keeps the kernel's page cache of a file to one version of it.
 *
 * The kernel caches file pages per inode, shared by every open handle, and libfuse's auto_cache
 * keeps them across opens while mtime and size look unchanged. Hoard's version is the ETag: an
 * object overwritten with the same size in the same Last-Modified second looks unchanged, and
 * the kernel would then serve its old pages next to new ones read through Hoard. So:
 *
 * - while any handle of a path is open, new opens and getattr see the version the first one
 *   opened (every page the kernel caches meanwhile is of that version); a new version shows up
 *   at the first open after the last close;
 * - the mtime reported for a version always differs from the one reported for the version
 *   before it (bumped by a millisecond when the store's own mtime is the same), so the open that
 *   brings a new version makes auto_cache drop the old pages (with `ac_attr_timeout=0`, libfuse
 *   re-reads the attributes on every open).
 */
export class KernelVersions {
  private readonly pinned = new Map<string, Pinned>();
  /** The mtime last reported per path and the version it stood for; oldest first. */
  private readonly reported = new Map<string, { version: string; mtimeMs: number }>();

  /** What the kernel is told about a path: the pinned version while the path is open. */
  current(path: string, fresh: FileInfo): FileInfo {
    return this.pinned.get(path)?.info ?? fresh;
  }

  /** The version an open of `path` reads: the pinned one if the path is open, else `fresh`, which it pins. */
  open(path: string, fresh: FileInfo): FileInfo {
    const p = this.pinned.get(path);
    if (p) {
      p.handles++;
      return p.info;
    }
    this.pinned.set(path, { info: fresh, handles: 1 });
    return fresh;
  }

  release(path: string): void {
    const p = this.pinned.get(path);
    if (p && --p.handles <= 0) this.pinned.delete(path);
  }

  /** The mtime to report for `info`: the store's, unless that equals the one reported for the previous version. */
  mtimeMs(info: FileInfo): number {
    if (info.isDir) return info.mtimeMs;
    const last = this.reported.get(info.path);
    if (last?.version === info.version) return last.mtimeMs;
    const mtimeMs = last !== undefined && last.mtimeMs === info.mtimeMs ? info.mtimeMs + 1 : info.mtimeMs;
    this.reported.delete(info.path);
    this.reported.set(info.path, { version: info.version, mtimeMs });
    if (this.reported.size > MAX_REPORTED) this.reported.delete(this.reported.keys().next().value as string);
    return mtimeMs;
  }

  get openPaths(): number {
    return this.pinned.size;
  }
}
