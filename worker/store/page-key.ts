import type { UfsEntry } from '../ufs/types.js';

// A page key is `${path}\0${version}\0${index}`. Paths never contain NUL (normalizePath refuses
// it) and versions are ETags or mtime-size strings, so the key splits back unambiguously.
const SEP = '\0';

/** The version pages are keyed by; connectors always set one, this only guards an empty string. */
export function versionOf(info: UfsEntry): string {
  return info.version !== '' ? info.version : `${info.mtimeMs}-${info.size}`;
}

/** Identifies one version of one file; every page key of that file starts with it. */
export function fileId(path: string, version: string): string {
  return path + SEP + version;
}

export function pageKey(fid: string, index: number): string {
  return fid + SEP + index;
}

/** The file id a page key belongs to (for counting cached files). */
export function fileIdOfKey(key: string): string {
  const i = key.lastIndexOf(SEP);
  return i < 0 ? key : key.slice(0, i);
}

/** Which pages a byte range touches, after clamping to the file size. */
export interface PageSpan {
  /** Clamped absolute start and end (exclusive) of the range. */
  start: number;
  end: number;
  firstPage: number;
  lastPage: number;
}

/** Returns undefined for an empty range (zero length, or starting at/after EOF). */
export function pageSpan(size: number, offset: number, length: number, pageSize: number): PageSpan | undefined {
  const start = Math.max(0, offset);
  const end = Math.min(size, start + Math.max(0, length));
  if (end <= start) return undefined;
  return { start, end, firstPage: Math.floor(start / pageSize), lastPage: Math.floor((end - 1) / pageSize) };
}

/** Length of page `index` of a file of `size` bytes (the last page may be short). */
export function pageLength(size: number, index: number, pageSize: number): number {
  return Math.max(0, Math.min(pageSize, size - index * pageSize));
}
