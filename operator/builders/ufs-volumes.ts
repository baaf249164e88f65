import type { V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { MountVolume } from '../../lib/mounts.js';
import type { Dataset, DatasetMount } from '../api/types.js';

/**
 * Where a Dataset mount's path data is in Kubernetes terms, and how workers reach it.
 * In a cluster a path only means something on a volume, so each path-like uri becomes a
 * read-only pod volume mounted at UFS_ROOT/<mount name>, and the workers' mount table says
 * file://UFS_ROOT/<mount name>[/sub/path]:
 *   file:///abs/path           a directory present on every worker node (hostPath, type Directory)
 *   nfs://server/export/path   an NFS export (nfs, readOnly)
 *   pvc://claim[/sub/path]     an existing PersistentVolumeClaim in the Dataset's namespace (readOnly)
 * s3:// and http(s):// mounts are reached over the network and get no volume.
 */
export const UFS_ROOT = '/hoard/ufs';

export interface UfsPlacement {
  /** The uri the workers (and the CSI side) open: file://<mountPath>[/sub]. */
  uri: string;
  volume: MountVolume;
}

/** A Dataset uri's parts for the path schemes; undefined for network schemes. Throws naming the field. */
export function parsePathUri(uri: string, field: string): { kind: 'hostPath' | 'nfs' | 'pvc'; host: string; path: string } | undefined {
  const m = /^(file|nfs|pvc):\/\/([^/]*)(\/.*)?$/.exec(uri);
  if (!m) return undefined;
  const [, scheme, host, rawPath = ''] = m as unknown as [string, string, string, string | undefined];
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    throw new Error(`${field}: "${uri}" has a bad %-escape in its path`);
  }
  if (path.includes('\0') || path.split('/').some((s) => s === '..' || s === '.')) throw new Error(`${field}: "${uri}" must not contain "." or ".." path segments`);
  const clean = path.replace(/\/+$/, '').replace(/\/{2,}/g, '/');
  if (scheme === 'file') {
    if (host !== '') throw new Error(`${field}: "${uri}" must be file:///abs/path (three slashes: a path on every worker node)`);
    if (clean === '') throw new Error(`${field}: "${uri}" names the node's root directory; name the directory that holds the data`);
    return { kind: 'hostPath', host: '', path: clean };
  }
  if (scheme === 'nfs') {
    if (!/^[A-Za-z0-9.-]{1,253}$|^\[[0-9a-fA-F:.]+\]$/.test(host)) throw new Error(`${field}: "${uri}" must be nfs://server/export/path with a host name or IP address as server`);
    return { kind: 'nfs', host: host.replace(/^\[|\]$/g, ''), path: clean || '/' };
  }
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(host)) throw new Error(`${field}: "${uri}" must be pvc://claim-name[/sub/path] with the name of a PersistentVolumeClaim in the Dataset's namespace`);
  return { kind: 'pvc', host, path: clean };
}

/** The volume and in-pod uri of one mount (index = its place in spec.mounts), or undefined for s3/http. */
export function ufsPlacement(m: DatasetMount, index: number, namespace: string): UfsPlacement | undefined {
  const parsed = parsePathUri(m.uri, `spec.mounts[${index}].uri`);
  if (!parsed) return undefined;
  const mountPath = `${UFS_ROOT}/${m.name}`;
  const name = `ufs-${index}`;
  if (parsed.kind === 'hostPath') return { uri: `file://${mountPath}`, volume: { name, mountPath, source: { hostPath: { path: parsed.path, type: 'Directory' } } } };
  if (parsed.kind === 'nfs') return { uri: `file://${mountPath}`, volume: { name, mountPath, source: { nfs: { server: parsed.host, path: parsed.path, readOnly: true } } } };
  return { uri: `file://${mountPath}${parsed.path}`, volume: { name, mountPath, namespace, source: { persistentVolumeClaim: { claimName: parsed.host, readOnly: true } } } };
}

/** The pod volumes and read-only container mounts every worker needs for the dataset's path data. */
export function ufsPodVolumes(ds: Dataset): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  ds.spec.mounts.forEach((m, i) => {
    const p = ufsPlacement(m, i, ds.metadata.namespace);
    if (!p) return;
    volumes.push({ name: p.volume.name, ...structuredClone(p.volume.source) });
    mounts.push({ name: p.volume.name, mountPath: p.volume.mountPath, readOnly: true });
  });
  return { volumes, mounts };
}
