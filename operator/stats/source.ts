import type { WorkerStats } from '../../worker/client/types.js';

/** What the operator learns from a dataset's workers for its status. */
export interface DatasetStats {
  /** One entry per worker that answered. */
  workers: WorkerStats[];
  /** Workers that did not answer, with the reason. */
  unreachable: { endpoint: string; error: string }[];
  /** The ring the workers weighed their pages by (ownedBytes); absent when none was known. */
  ring?: string[];
  /** UFS totals; absent when no worker could list the namespace. */
  ufs?: { totalBytes: number; fileCount: number; truncated: boolean };
}

export interface DatasetRef {
  namespace: string;
  name: string;
  /** Workers the StatefulSet has (ordinals 0..replicas-1). */
  replicas: number;
  /**
   * The workers the clients hash over: the ready worker pods, which is what the headless
   * Service's SRV records list. Each worker then reports what it owns on that ring.
   */
  ring?: string[];
}

/** A worker pod addressed by its IP (a pod that is not ready has no DNS name). */
export interface WorkerPod {
  pod: string;
  ordinal: number;
  podIP?: string;
}

/** Injectable so tests map a dataset to real worker processes on 127.0.0.1. */
export interface StatsSource {
  collect(ref: DatasetRef, opts: { withUfs: boolean }): Promise<DatasetStats>;
  /** The workers' own not-ready reasons (Stats.readyReason), by pod name; pods that do not answer are left out. */
  readyReasons?(ref: DatasetRef, pods: WorkerPod[]): Promise<Map<string, string>>;
  /** Asks each worker to drop its cache and remove its disk tiers' folders (Dataset deletion); the result per pod. */
  purge?(ref: DatasetRef, pods: WorkerPod[]): Promise<Map<string, { removed?: string[]; error?: string }>>;
  close(): Promise<void>;
}
