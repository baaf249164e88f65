import type { Readable } from 'node:stream';

/** One file or directory in an under-storage, path relative to the connector's root. */
export interface UfsEntry {
  /** Namespace-relative path, always starting with '/', no trailing slash (root is '/'). */
  path: string;
  name: string;
  isDir: boolean;
  size: number;
  mtimeMs: number;
  /** ETag, or `${mtimeMs}-${size}`: pages are keyed by it so a changed file is never served stale. */
  version: string;
}

/**
 * The under-storage contract. Paths are '/'-rooted and already normalised by the caller;
 * connectors still refuse anything that would escape their root. Errors are HoardError
 * (NOT_FOUND, INVALID_ARGUMENT, PERMISSION_DENIED, UNAVAILABLE).
 */
export interface Ufs {
  stat(path: string): Promise<UfsEntry>;
  list(path: string): Promise<UfsEntry[]>;
  /**
   * Streams bytes [offset, offset+length) (clamped at EOF); never buffers the whole file. With
   * `version`, fails with FAILED_PRECONDITION when the file is no longer that version (checked
   * on the same response that carries the bytes, so no separate stat is needed and a file
   * replaced between stat and read is never cached under the old version).
   */
  read(path: string, offset: number, length: number, signal?: AbortSignal, version?: string): Promise<Readable>;
  close(): Promise<void>;
}
