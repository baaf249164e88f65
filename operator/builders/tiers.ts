import type { V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { TierLevel } from '../api/types.js';
import { mebibytes, quantityBytes } from './quantity.js';

/**
 * Cache tiers -> pod volumes and `hoard worker --tier` flags.
 * MEM: emptyDir on tmpfs (medium Memory) limited to the quota, holding the tier's page files; the
 * quota is also added to the container's memory so the kubelet does not evict the pod for using
 * what it was promised. The first one is named to clients by its path on the node
 * (--short-circuit-dir), where the CSI node plugin, which mounts the kubelet directory, reads
 * cached pages straight from it, as `hoard up` does on one machine. Being an emptyDir, it lives
 * as long as the pod (a restarted worker container keeps its cache) and the kubelet removes it.
 * SSD/HDD: the node directory (hostPath) when `path` is set, each pod in its own sub-directory;
 * otherwise an emptyDir limited to the quota.
 */
export interface TierPlan {
  volumes: V1Volume[];
  mounts: V1VolumeMount[];
  flags: string[];
  memoryBytes: number;
}

/** The `$(POD_UID)` in --short-circuit-dir: the container's env must define it (worker-statefulset.ts). */
export const POD_UID_ENV = 'POD_UID';

/** A worker's own folder in a hostPath tier; the container's env defines both variables. */
export const HOST_TIER_DIR = '$(POD_NAMESPACE)_$(POD_NAME)';

export function planTiers(levels: TierLevel[], kubeletDir = '/var/lib/kubelet'): TierPlan {
  const plan: TierPlan = { volumes: [], mounts: [], flags: [], memoryBytes: 0 };
  const perMedium = new Map<string, number>();
  levels.forEach((level, i) => {
    const quota = quantityBytes(level.quota, `spec.tieredStore.levels[${i}].quota`);
    const index = perMedium.get(level.medium) ?? 0;
    perMedium.set(level.medium, index + 1);
    const volumeName = `cache-${level.medium.toLowerCase()}${index}`;
    const mountPath = `/cache/${level.medium.toLowerCase()}${index}`;
    const sizeLimit = mebibytes(quota);
    const watermarks = level.high !== undefined || level.low !== undefined ? `:${level.high ?? '0.95'}:${level.low ?? '0.8'}` : '';
    if (level.medium === 'MEM') {
      plan.memoryBytes += quota;
      plan.volumes.push({ name: volumeName, emptyDir: { medium: 'Memory', sizeLimit } });
      plan.mounts.push({ name: volumeName, mountPath });
      plan.flags.push('--tier', `MEM:${mountPath}:${sizeLimit}${watermarks}`);
      if (index === 0) plan.flags.push('--short-circuit-dir', `${kubeletDir.replace(/\/+$/, '')}/pods/$(${POD_UID_ENV})/volumes/kubernetes.io~empty-dir/${volumeName}`);
      return;
    }
    if (level.path && !level.emptyDir) {
      plan.volumes.push({ name: volumeName, hostPath: { path: level.path, type: 'DirectoryOrCreate' } });
      plan.mounts.push({ name: volumeName, mountPath });
      // Two workers of one dataset (or of two datasets) on a node must not share a directory. The
      // worker makes its own <namespace>_<pod> folder (not a subPath the kubelet makes), so it can
      // remove it when its Dataset is deleted (Purge): the node keeps no cache of deleted datasets.
      plan.flags.push('--tier', `${level.medium}:${mountPath}/${HOST_TIER_DIR}:${sizeLimit}${watermarks}`);
      return;
    } else {
      plan.volumes.push({ name: volumeName, emptyDir: { sizeLimit } });
      plan.mounts.push({ name: volumeName, mountPath });
    }
    plan.flags.push('--tier', `${level.medium}:${mountPath}:${sizeLimit}${watermarks}`);
  });
  return plan;
}
