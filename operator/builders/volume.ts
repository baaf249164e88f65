import type { V1PersistentVolume, V1PersistentVolumeClaim, V1Secret } from '@kubernetes/client-node';
import type { CacheRuntime, Dataset } from '../api/types.js';
import { CSI_DRIVER, STORAGE_CLASS } from '../api/types.js';
import type { BuildContext } from './context.js';
import { csiMountTable } from './mounts-configmap.js';
import { labels, names } from './names.js';
import { controllerRef } from './owner.js';

/** Static PVs are not sized; like Fluid, claim "everything" so any request binds. */
export const VOLUME_CAPACITY = '100Pi';

/** The Secrets the dataset's mounts reference, by name, in mount order. */
export function referencedSecrets(ds: Dataset): string[] {
  return [...new Set(ds.spec.mounts.flatMap((m) => (m.credentials ? [m.credentials.secretRef.name] : [])))];
}

/**
 * NodeStageVolume gets exactly one Secret. One referenced Secret is passed as is (its keys apply
 * to every s3 mount); several are merged by the operator into <dataset>-csi-credentials with
 * `<mount>.<key>` keys, the per-mount form the CSI plugin understands.
 */
export function csiSecretName(ds: Dataset): string | undefined {
  const secrets = referencedSecrets(ds);
  if (secrets.length === 0) return undefined;
  return secrets.length === 1 ? secrets[0] : names.csiSecret(ds.metadata.name);
}

export function buildCsiCredentialsSecret(ds: Dataset, secretData: Map<string, Record<string, string>>): V1Secret | undefined {
  if (referencedSecrets(ds).length < 2) return undefined;
  const data: Record<string, string> = {};
  for (const m of ds.spec.mounts) {
    if (!m.credentials) continue;
    for (const [key, value] of Object.entries(secretData.get(m.credentials.secretRef.name) ?? {})) data[`${m.name}.${key}`] = value;
  }
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name: names.csiSecret(ds.metadata.name), namespace: ds.metadata.namespace, labels: labels(ds.metadata.name, 'volume'), ownerReferences: [controllerRef(ds)] },
    data,
  };
}

/** The CSI volume context: everything a node needs to mount the dataset, no secrets. */
export function volumeAttributes(ds: Dataset, rt: CacheRuntime, ctx: BuildContext): Record<string, string> {
  const { name, namespace } = ds.metadata;
  const fuse = rt.spec.fuse ?? {};
  const readOnly = ds.spec.mounts.every((m) => m.readOnly ?? true) || (ds.spec.accessModes ?? ['ReadOnlyMany']).every((m) => m === 'ReadOnlyMany');
  return {
    dataset: name,
    namespace,
    workers: `srv:${names.srv(namespace, name, ctx.clusterDomain)}`,
    mounts: JSON.stringify(csiMountTable(ds)),
    readOnly: String(readOnly),
    'fuse.kernelCache': String(fuse.kernelCache ?? false),
    'fuse.attrTimeout': String(fuse.attrTimeout ?? 1),
    'fuse.entryTimeout': String(fuse.entryTimeout ?? 1),
    'fuse.directIO': String(fuse.directIO ?? false),
    replication: String(rt.spec.replication ?? 1),
  };
}

export function buildPersistentVolume(ds: Dataset, rt: CacheRuntime, ctx: BuildContext): V1PersistentVolume {
  const { name, namespace } = ds.metadata;
  const secret = csiSecretName(ds);
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    // Cluster-scoped: no ownerReference to a namespaced owner; the Dataset finalizer deletes it.
    metadata: { name: names.pv(namespace, name), labels: { ...labels(name, 'volume'), 'data.hoard.dev/namespace': namespace } },
    spec: {
      capacity: { storage: VOLUME_CAPACITY },
      accessModes: [...(ds.spec.accessModes ?? ['ReadOnlyMany'])],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: STORAGE_CLASS,
      volumeMode: 'Filesystem',
      claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace, name: names.pvc(name) },
      csi: {
        driver: CSI_DRIVER,
        volumeHandle: `${namespace}/${name}`,
        volumeAttributes: volumeAttributes(ds, rt, ctx),
        ...(secret ? { nodeStageSecretRef: { name: secret, namespace } } : {}),
      },
    },
  };
}

export function buildPersistentVolumeClaim(ds: Dataset): V1PersistentVolumeClaim {
  const { name, namespace } = ds.metadata;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: names.pvc(name), namespace, labels: labels(name, 'volume'), ownerReferences: [controllerRef(ds)] },
    spec: {
      accessModes: [...(ds.spec.accessModes ?? ['ReadOnlyMany'])],
      resources: { requests: { storage: VOLUME_CAPACITY } },
      storageClassName: STORAGE_CLASS,
      volumeMode: 'Filesystem',
      volumeName: names.pv(namespace, name),
    },
  };
}
