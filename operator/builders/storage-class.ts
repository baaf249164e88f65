import type { V1StorageClass } from '@kubernetes/client-node';
import type { Dataset } from '../api/types.js';
import { CSI_DRIVER } from '../api/types.js';
import { labels, names } from './names.js';
import { csiSecretName } from './volume.js';

/** Labels that tie a cluster-scoped StorageClass to its Dataset (no ownerReference can). */
export const DATASET_NAMESPACE_LABEL = 'data.hoard.dev/namespace';

/**
 * The StorageClass other namespaces' PVCs name to mount a shared Dataset. The CSI controller turns
 * each claim into a read-only view (CreateVolume parameters: dataset, datasetNamespace); the
 * direct-UFS fallback's credentials reach nodes only as the node-stage Secret reference, which
 * external-provisioner copies into each PV's nodeStageSecretRef, never as a parameter.
 */
export function buildStorageClass(ds: Dataset): V1StorageClass {
  const { name, namespace } = ds.metadata;
  const secret = csiSecretName(ds);
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: names.storageClass(namespace, name), labels: { ...labels(name, 'volume'), [DATASET_NAMESPACE_LABEL]: namespace } },
    provisioner: CSI_DRIVER,
    reclaimPolicy: 'Delete',
    volumeBindingMode: 'Immediate',
    allowVolumeExpansion: false,
    parameters: {
      dataset: name,
      datasetNamespace: namespace,
      ...(secret ? { 'csi.storage.k8s.io/node-stage-secret-name': secret, 'csi.storage.k8s.io/node-stage-secret-namespace': namespace } : {}),
    },
  };
}

/** A StorageClass's provisioner, parameters, reclaimPolicy and volumeBindingMode cannot change in place. */
export function storageClassDiffers(existing: V1StorageClass, desired: V1StorageClass): boolean {
  return (
    existing.provisioner !== desired.provisioner ||
    (existing.reclaimPolicy ?? 'Delete') !== desired.reclaimPolicy ||
    (existing.volumeBindingMode ?? 'Immediate') !== desired.volumeBindingMode ||
    JSON.stringify(Object.entries(existing.parameters ?? {}).sort()) !== JSON.stringify(Object.entries(desired.parameters ?? {}).sort())
  );
}
