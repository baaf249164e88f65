import { hostPathRefusal, tierHostPaths, type HostPathPolicy } from '../../lib/host-paths.js';
import { describeError } from '../../lib/kube-errors.js';
import { invalidArgument, unavailable } from '../server/errors.js';
import type { VolumeConfig } from '../server/validation.js';

/**
 * Pod mode gives a mount pod a hostPath volume for each host-path entry of the volume context's
 * mount table. That table comes from a PersistentVolume: the operator's, a view copied from it by
 * the CSI controller, or one an admin wrote; it may predate the current rule (an older operator, a
 * narrowed allow-list, a cache tier created since). So the node applies the operator's rule itself
 * (the chart passes both the same allow-list) before anything is created: a host path it would
 * refuse never reaches a pod, whoever wrote the context.
 */
export async function vetHostPaths(config: VolumeConfig, policy: HostPathPolicy, listRuntimes: () => Promise<unknown[]>): Promise<void> {
  const hostPaths = config.mounts.mounts.flatMap((m, i) => {
    const source = m.volume?.source;
    return source && 'hostPath' in source ? [{ at: `volume_context.mounts: mounts[${i}] "${m.name}"`, path: source.hostPath.path }] : [];
  });
  if (hostPaths.length === 0) return;
  let runtimes: unknown[];
  try {
    runtimes = await listRuntimes();
  } catch (e) {
    // Fail closed: without the tier folders the path might expose another dataset's cache.
    throw unavailable(`cannot list CacheRuntimes to check the host paths of the volume (${describeError(e)}); the plugin needs list on cacheruntimes.data.hoard.dev`);
  }
  const tiers = tierHostPaths(runtimes);
  for (const { at, path } of hostPaths) {
    const refusal = hostPathRefusal(policy, path, tiers);
    if (refusal) {
      throw invalidArgument(`${at}: host path ${refusal}; the cluster admin allows host paths with the chart value operator.hostPathAllowList (hoard csi --host-path-allow, hoard operator --host-path-allow)`);
    }
  }
}
