/**
 * The data.hoard.dev/v1alpha1 API as TypeScript types. crds/*.yaml is the source of truth for
 * validation; these mirror it so the controllers and builders type-check against it.
 */
export const GROUP = 'data.hoard.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const FINALIZER = 'data.hoard.dev/finalizer';
export const CSI_DRIVER = 'csi.hoard.dev';
export const STORAGE_CLASS = 'hoard';

export const PLURALS = { Dataset: 'datasets', CacheRuntime: 'cacheruntimes', DataLoad: 'dataloads' } as const;

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

export interface DatasetMount {
  name: string;
  /**
   * s3://bucket/prefix, http(s)://host/path, or path data as a Kubernetes volume: file:///abs/path
   * (hostPath on every worker node), nfs://server/export/path, pvc://claim[/sub/path]
   * (operator/builders/ufs-volumes.ts).
   */
  uri: string;
  options?: Record<string, string>;
  credentials?: { secretRef: { name: string } };
  readOnly?: boolean;
}

export interface DatasetSpec {
  mounts: DatasetMount[];
  accessModes?: ('ReadOnlyMany' | 'ReadWriteMany' | 'ReadWriteOnce')[];
  nodeAffinity?: Record<string, unknown>;
  tolerations?: Toleration[];
  /** Opt-in: other namespaces' PVCs may mount the Dataset through its StorageClass. */
  sharing?: DatasetSharing;
}

export interface DatasetSharing {
  namespaces?: string[];
  allNamespaces?: boolean;
}

/** A volume the CSI controller provisioned from the Dataset's StorageClass, and its claim. */
export interface SharedVolume {
  volume: string;
  claimNamespace?: string;
  claimName?: string;
  phase?: string;
}

export type DatasetPhase = 'Pending' | 'Bound' | 'Failed' | 'Terminating';

export interface DatasetStatus {
  phase?: DatasetPhase;
  observedGeneration?: number;
  ufsTotal?: string;
  ufsTotalBytes?: number;
  fileCount?: number;
  statsTime?: string;
  cacheStates?: {
    cacheCapacity?: string;
    cacheCapacityBytes?: number;
    /** Bytes readers get as hits: each page counted once, on the worker that owns it on the ring. */
    cached?: string;
    cachedBytes?: number;
    cachedPercentage?: string;
    /** Copies on workers that do not own the pages on the current ring (after a scale-up, or while out of it). */
    stale?: string;
    staleBytes?: number;
    hitRatio?: string;
  };
  workers?: { desired: number; ready: number };
  /** The FUSE mount pods serving the Dataset, one per node that mounts it. */
  fuse?: FuseMountStatus[];
  pvc?: string;
  pv?: string;
  storageClass?: string;
  sharedVolumes?: SharedVolume[];
  conditions?: Condition[];
}

export interface FuseMountStatus {
  node: string;
  /** namespace/name of the mount pod. */
  pod: string;
  phase?: string;
  ready?: boolean;
  restarts?: number;
  image?: string;
  lastTermination?: string;
}

export interface Dataset {
  apiVersion: typeof API_VERSION;
  kind: 'Dataset';
  metadata: ObjectMeta;
  spec: DatasetSpec;
  status?: DatasetStatus;
}

export interface TierLevel {
  medium: 'MEM' | 'SSD' | 'HDD';
  quota: string | number;
  path?: string;
  emptyDir?: boolean;
  high?: string;
  low?: string;
}

export interface CacheRuntimeSpec {
  replicas?: number;
  tieredStore: { levels: TierLevel[] };
  pageSize?: string;
  replication?: number;
  metadataTTL?: string;
  worker?: {
    image?: string;
    imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
    loadConcurrency?: number;
    resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
    nodeSelector?: Record<string, string>;
    tolerations?: Toleration[];
  };
  fuse?: {
    kernelCache?: boolean;
    attrTimeout?: number;
    entryTimeout?: number;
    directIO?: boolean;
    /** Requests/limits of the FUSE mount pods (pod mode of the CSI node plugin). */
    resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  };
}

export interface CacheRuntimeStatus {
  phase?: 'Pending' | 'Ready' | 'PartialReady' | 'Failed';
  observedGeneration?: number;
  replicas?: number;
  selector?: string;
  workers?: { desired: number; ready: number };
  conditions?: Condition[];
}

export interface CacheRuntime {
  apiVersion: typeof API_VERSION;
  kind: 'CacheRuntime';
  metadata: ObjectMeta;
  spec: CacheRuntimeSpec;
  status?: CacheRuntimeStatus;
}

export interface DataLoadSpec {
  dataset: { name: string };
  paths?: string[];
  loadMetadata?: boolean;
  policy?: 'Once' | 'Cron';
  schedule?: string;
  concurrency?: number;
  bandwidth?: string;
  backoffLimit?: number;
  ttlSecondsAfterFinished?: number;
}

export interface LoadProgressStatus {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  percent: string;
  failures: number;
  failedPaths?: string[];
}

export interface DataLoadStatus {
  phase?: 'Pending' | 'Running' | 'Complete' | 'Failed';
  observedGeneration?: number;
  job?: string;
  progress?: LoadProgressStatus;
  attempts?: number;
  startTime?: string;
  completionTime?: string;
  duration?: string;
  lastScheduleTime?: string;
  lastSuccessfulTime?: string;
  conditions?: Condition[];
}

export interface DataLoad {
  apiVersion: typeof API_VERSION;
  kind: 'DataLoad';
  metadata: ObjectMeta;
  spec: DataLoadSpec;
  status?: DataLoadStatus;
}

export type HoardResource = Dataset | CacheRuntime | DataLoad;
