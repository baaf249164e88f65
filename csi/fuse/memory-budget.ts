import { MAX_PIECE_BYTES, POOL_LIMIT } from '../../worker/client/readahead.js';

const MiB = 2 ** 20;

/**
 * What `hoard mount` may hold in memory, part by part; `npm run bench` prints the mount's peak
 * RSS under a soak against the total. Every part but the baseline is a bound the code keeps.
 */
export interface MountBudget {
  /** Node, V8's heap at rest, gRPC and the S3 SDK (for the direct fallback): measured at start. */
  baseline: number;
  /** Read-ahead pieces held or being filled (ClientOptions.readAheadBufferBytes, default 128 MiB). */
  readAhead: number;
  /** Spare piece buffers kept for reuse: POOL_LIMIT pieces of at most 4 MiB. */
  spare: number;
  /** Stat answers (20,000) and listings (1,000) the client reuses for its metadata TTL. */
  metadata: number;
  /** Short-circuit reads: page file names (65,536), pages to report per worker, the read thread. */
  shortCircuit: number;
  total: number;
}

export function mountBudget(readAheadBufferBytes = 128 * MiB): MountBudget {
  const parts = { baseline: 128 * MiB, readAhead: readAheadBufferBytes, spare: POOL_LIMIT * MAX_PIECE_BYTES, metadata: 32 * MiB, shortCircuit: 32 * MiB };
  return { ...parts, total: parts.baseline + parts.readAhead + parts.spare + parts.metadata + parts.shortCircuit };
}

/** The budget of a mount with default options, in bytes. */
export function mountBudgetBytes(): number {
  return mountBudget().total;
}
