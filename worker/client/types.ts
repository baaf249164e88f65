import type { UfsEntry } from '../ufs/types.js';

/** What the FUSE filesystem and the loader see of a file: the under-storage's own entry, as workers relay it. */
export type FileInfo = UfsEntry;

export interface LoadProgress {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  failures: number;
  failedPaths: string[];
  current: string;
  done: boolean;
}

export interface LoadOptions {
  concurrency?: number;
  bandwidthBytesPerSec?: number;
  metadataOnly?: boolean;
  signal?: AbortSignal;
}

export interface WorkerStats {
  workerId: string;
  capacityBytes: number;
  usedBytes: number;
  pages: number;
  hits: number;
  misses: number;
  ufsBytesRead: number;
  evictions: number;
  filesCached: number;
  /** Pages in memory not yet copied to the disk tier below (write-behind). */
  writeBehindPending: number;
  ready: boolean;
  /** The worker's own readiness reason (its /readyz text); empty from older workers. */
  readyReason?: string;
  tiers: { medium: string; capacityBytes: number; usedBytes: number; pages: number }[];
  /**
   * Of usedBytes/pages, what the worker owns under the ring a Stats request named (what readers
   * get from it as hits; the rest are stale copies). Undefined when no ring was named, and from
   * older workers.
   */
  ownedBytes?: number;
  ownedPages?: number;
  /** The worker's RAM-disk pages, readable by a client on its host (worker/store/short-circuit.ts). */
  shortCircuit?: { dir: string; token: string; pageSize: number };
}

/** What a client tells one worker through Touch: the pages it read from the worker's RAM disk since the last report, and how often. */
export interface TouchReport {
  keys: string[];
  /** reads[i]: how many times keys[i] was read (>= 1). */
  reads: number[];
  /** Reads of pages left unnamed because the report already names as many pages as it may. */
  unlistedReads: number;
}

/** What a client holds in memory right now, by bounded part (csi/fuse/memory-budget.ts). */
export interface ClientMemory {
  /** Read-ahead pieces held or being filled (at most readAheadBufferBytes). */
  readAheadBytes: number;
  /** Spare piece buffers kept for reuse (at most 16 pieces). */
  readAheadSpareBytes: number;
  statEntries: number;
  listEntries: number;
  shortCircuitNames: number;
}

/**
 * Errors are HoardError: NOT_FOUND, INVALID_ARGUMENT, UNAVAILABLE (no worker and no UFS
 * answered), DEADLINE_EXCEEDED, FAILED_PRECONDITION (file changed under a reader).
 */
export interface DataClient {
  stat(path: string): Promise<FileInfo>;
  /** The answer stat would give from its cache, at once, or undefined (then call stat). */
  peekStat(path: string): FileInfo | undefined;
  list(path: string): Promise<FileInfo[]>;
  /** Exactly the bytes [offset, offset+length) clamped at EOF; `info` avoids a second stat. */
  read(path: string, offset: number, length: number, info?: FileInfo): Promise<Buffer>;
  /**
   * Like read, but copies into dest (length <= dest.length); the byte count. It comes back as a
   * plain number when the bytes were at hand (in memory or on this host's RAM disk), so a FUSE
   * read of warm data costs no event-loop turn; otherwise as a promise. Errors always reject.
   */
  readInto(path: string, offset: number, dest: Buffer, length: number, info?: FileInfo): number | Promise<number>;
  load(paths: string[], opts: LoadOptions, onProgress: (p: LoadProgress) => void): Promise<LoadProgress>;
  stats(): Promise<WorkerStats[]>;
  /** What the client holds in memory (read-ahead, metadata), for the mount's memory budget. */
  memory(): ClientMemory;
  close(): Promise<void>;
}
