import { hostPathRefusal, tierHostPaths, tierPathRefusal, type DeniedPath, type HostPathPolicy } from '../../lib/host-paths.js';
import { GROUP, PLURALS, VERSION, type CacheRuntime, type Dataset } from '../api/types.js';
import type { KubeClients } from '../kube/clients.js';
import { statusCode } from '../kube/errors.js';

/** How a user is told to get a host path allowed (both places an admin sets it). */
export const HOST_PATH_FIX = 'point the mount at a folder that holds only data, inside one the cluster admin allows with the chart value operator.hostPathAllowList (hoard operator --host-path-allow)';

/** The node path a file:// uri names, as written (%-escapes decoded), or undefined for other uris. */
export function fileUriHostPath(uri: unknown): string | undefined {
  if (typeof uri !== 'string') return undefined;
  const m = /^file:\/\/\/(.*)$/s.exec(uri);
  if (!m) return undefined;
  try {
    return `/${decodeURIComponent(m[1]!)}`;
  } catch {
    return undefined; // a bad %-escape: refused as an invalid spec
  }
}

export function hasHostPathMounts(ds: Dataset): boolean {
  return (ds.spec?.mounts ?? []).some((m) => fileUriHostPath(m?.uri) !== undefined);
}

/**
 * One message per file:// mount the policy refuses, naming the mount, the path and the fix. The
 * check runs on the path as written, normalised (so /srv/../etc is /etc), before anything else
 * reads the spec: nothing of a refused Dataset reaches a node.
 */
export function hostPathProblems(ds: Dataset, policy: HostPathPolicy, tiers: DeniedPath[]): string[] {
  const problems: string[] = [];
  (ds.spec?.mounts ?? []).forEach((m, i) => {
    const path = fileUriHostPath(m?.uri);
    if (path === undefined) return;
    const refusal = hostPathRefusal(policy, path, tiers);
    if (refusal) problems.push(`spec.mounts[${i}] "${String(m.name)}": host path ${refusal}; ${HOST_PATH_FIX}`);
  });
  return problems;
}

/**
 * One message per host-path cache tier of the runtime that lies in, under or over a folder of node
 * state (the kubelet's directory, /etc, ...): the workers would mount it read-write. Naming the
 * level and the fix; nothing of the runtime reaches a node while one remains.
 */
export function tierPathProblems(rt: CacheRuntime, policy: HostPathPolicy): string[] {
  const problems: string[] = [];
  (rt.spec?.tieredStore?.levels ?? []).forEach((level, i) => {
    if (!level || level.medium === 'MEM' || typeof level.path !== 'string' || level.emptyDir === true) return;
    const refusal = tierPathRefusal(policy, level.path);
    if (refusal) problems.push(`spec.tieredStore.levels[${i}].path: ${refusal}; keep cache tiers in a folder of their own, like /mnt/nvme/hoard`);
  });
  return problems;
}

/**
 * The cache tier folders of every CacheRuntime the operator can see: the whole cluster, or (when
 * RBAC is namespaced) the namespaces it reconciles.
 */
export async function runtimeTierPaths(k: KubeClients, namespaces: string[] | undefined, datasetNamespace: string): Promise<DeniedPath[]> {
  const plural = PLURALS.CacheRuntime;
  try {
    const all = (await k.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as { items?: unknown[] };
    return tierHostPaths(all.items ?? []);
  } catch (e) {
    if (statusCode(e) !== 403) throw e;
  }
  const scope = [...new Set([...(namespaces ?? []), datasetNamespace])];
  const items: unknown[] = [];
  for (const namespace of scope) {
    const list = (await k.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural })) as { items?: unknown[] };
    items.push(...(list.items ?? []));
  }
  return tierHostPaths(items);
}
