import type { Logger } from '../../lib/log.js';

/** How the kernel sees a Hoard mount. Defaults suit a shared, read-mostly dataset. */
export interface HoardFsOptions {
  /** Mount with the kernel `ro` flag as well (writes already fail with EROFS without it). */
  readOnly?: boolean;
  /**
   * Keep file pages in the kernel page cache across opens (libfuse `auto_cache`: kept while the
   * file's version is unchanged, dropped by the first open of a new one; see kernel-versions.ts).
   * Off: pages are dropped on every open, so each open reads through Hoard again.
   */
  kernelCache?: boolean;
  /** Seconds the kernel trusts file attributes (libfuse default 1). */
  attrTimeoutSec?: number;
  /** Seconds the kernel trusts name lookups, including "not found" (libfuse default 1). */
  entryTimeoutSec?: number;
  /** Bypass the page cache entirely: every read() reaches Hoard with the caller's size. */
  directIO?: boolean;
  /** Kernel read-ahead of the mount in KiB (default 1024; 0 keeps the kernel's 128). Needs root. */
  readAheadKb?: number;
  /** Let users other than the mounting one read the mount (pods run as arbitrary uids). */
  allowOther?: boolean;
  /** Upper bound on one FUSE operation before the kernel gets ETIMEDOUT (default 60 s). */
  opTimeoutMs?: number;
  /** Shown as the source in /proc/mounts (default "hoard"). */
  fsName?: string;
  /** Owner reported for every file (default: the mounting process's uid/gid). */
  uid?: number;
  gid?: number;
  logger?: Logger;
}

/**
 * The kernel's FUSE read-ahead is skipped outright once `congestion_threshold` background requests
 * are queued (default 9 of 12): a pod reading many files at once over a data plane with any
 * latency then falls back to one synchronous 4 KiB read per page, a round trip each. A deeper
 * queue keeps whole-file and 128 KiB reads flowing.
 */
const QUEUE_OPTIONS = ['max_background=64', 'congestion_threshold=48'];

function seconds(v: number, field: string): string {
  if (!Number.isFinite(v) || v < 0) throw new Error(`${field}: ${v} must be a number of seconds >= 0`);
  return String(v);
}

/**
 * The `-o` option list for libfuse 2. Built here rather than by fuse-native because fuse-native
 * drops zero timeouts (`if (opts.attrTimeout)`) and has no direct_io or ro switch.
 */
export function fuseOptionList(opts: HoardFsOptions): string[] {
  const fsName = opts.fsName ?? 'hoard';
  if (!/^[A-Za-z0-9._@:/-]+$/.test(fsName)) throw new Error(`fsName: "${fsName}" may only hold letters, digits and ._@:/-`);
  const list = [`fsname=${fsName}`, 'subtype=hoard', 'default_permissions', ...QUEUE_OPTIONS];
  if (opts.readOnly) list.push('ro');
  if (opts.allowOther) list.push('allow_other');
  // ac_attr_timeout=0: every open re-reads the attributes, so an open that brings a new version
  // of a file always drops the old version's pages (kernel-versions.ts).
  if (opts.kernelCache) list.push('auto_cache', 'ac_attr_timeout=0');
  if (opts.directIO) list.push('direct_io');
  if (opts.attrTimeoutSec !== undefined) list.push(`attr_timeout=${seconds(opts.attrTimeoutSec, 'attrTimeoutSec')}`);
  if (opts.entryTimeoutSec !== undefined) {
    const s = seconds(opts.entryTimeoutSec, 'entryTimeoutSec');
    list.push(`entry_timeout=${s}`, `negative_timeout=${s}`);
  }
  return list;
}
