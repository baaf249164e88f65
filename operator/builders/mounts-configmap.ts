import type { V1ConfigMap } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import type { MountTable } from '../../lib/mounts.js';
import type { Dataset } from '../api/types.js';
import { CREDENTIALS_ROOT, labels, names } from './names.js';
import { controllerRef } from './owner.js';
import { ufsPlacement } from './ufs-volumes.js';

/**
 * The mount table as workers read it. It carries no secret values: a mount with credentials
 * points credentialsDir at the directory where its Secret is mounted in the worker pod. Path data
 * (file://, nfs://, pvc://) is read from its volume inside the pod, which the entry describes.
 */
export function workerMountTable(ds: Dataset): MountTable {
  return {
    mounts: ds.spec.mounts.map((m, i) => {
      const placed = ufsPlacement(m, i, ds.metadata.namespace);
      return {
      name: m.name,
      uri: placed?.uri ?? m.uri,
      ...(m.options && Object.keys(m.options).length > 0 ? { options: { ...m.options } } : {}),
      ...(m.credentials ? { credentialsDir: `${CREDENTIALS_ROOT}/${m.name}` } : {}),
      readOnly: m.readOnly ?? true,
      ...(placed ? { volume: placed.volume } : {}),
      };
    }),
  };
}

/** The mount table the CSI plugin gets in volumeAttributes: no credentialsDir (CSI sets its own). */
export function csiMountTable(ds: Dataset): MountTable {
  return { mounts: workerMountTable(ds).mounts.map(({ credentialsDir: _dir, ...m }) => m) };
}

export function buildMountsConfigMap(ds: Dataset): V1ConfigMap {
  const { name, namespace } = ds.metadata;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: names.mountsConfigMap(name), namespace, labels: labels(name, 'config'), ownerReferences: [controllerRef(ds)] },
    data: { 'mounts.json': `${JSON.stringify(workerMountTable(ds), null, 2)}\n` },
  };
}

/** Changes when the mount table changes; put on the pod template so workers roll onto new mounts. */
export function configHash(cm: V1ConfigMap): string {
  return createHash('sha256').update(JSON.stringify(cm.data ?? {})).digest('hex').slice(0, 16);
}
