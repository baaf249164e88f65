import type { WorkerStats } from '../../worker/client/types.js';

/** What the operator learns from a dataset's workers for its status. */
export interface DatasetStats {
  /** One entry per worker that answered. */
  workers: WorkerStats[];
  /** Workers that did not answer, with the reason. */
  unreachable: { endpoint: string; error: string }[];
  /** UFS totals; absent when no worker could list the namespace. */
  ufs?: { totalBytes: number; fileCount: number; truncated: boolean };
}

export interface DatasetRef {
  namespace: string;
  name: string;
  /** Workers the StatefulSet has (ordinals 0..replicas-1). */
  replicas: number;
}

/** Injectable so tests map a dataset to real worker processes on 127.0.0.1. */
export interface StatsSource {
  collect(ref: DatasetRef, opts: { withUfs: boolean }): Promise<DatasetStats>;
  close(): Promise<void>;
}
