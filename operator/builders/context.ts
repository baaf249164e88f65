/** Operator-wide settings the builders need (from `hoard operator` flags). */
export interface BuildContext {
  /** Image for workers and loaders unless a CacheRuntime names its own. */
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  clusterDomain: string;
  /** The kubelet's root directory on nodes (where pods' emptyDirs live); the CSI node plugin mounts it at the same path. */
  kubeletDir?: string;
}

export const defaultBuildContext: BuildContext = {
  image: process.env.HOARD_IMAGE ?? 'ghcr.io/hoard-dev/hoard:0.1.0',
  clusterDomain: 'cluster.local',
  kubeletDir: '/var/lib/kubelet',
};
