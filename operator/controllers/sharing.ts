import type { V1PersistentVolume } from '@kubernetes/client-node';
import type { Dataset, SharedVolume } from '../api/types.js';
import { CSI_DRIVER } from '../api/types.js';
import { names } from '../builders/names.js';
import { buildStorageClass, storageClassDiffers } from '../builders/storage-class.js';
import { deleteIgnoringMissing } from '../kube/apply.js';
import type { KubeClients } from '../kube/clients.js';
import { isNotFound } from '../kube/errors.js';
import type { EventRecorder } from '../runtime/events.js';

/**
 * The Dataset's StorageClass: created while spec.sharing is set, removed when it is not. Its
 * immutable fields (parameters, provisioner, policies) are changed the only way a real API server
 * allows: delete and create again; volumes already provisioned keep their own copy.
 */
export async function applyStorageClass(k: KubeClients, events: EventRecorder, ds: Dataset): Promise<string | undefined> {
  const name = names.storageClass(ds.metadata.namespace, ds.metadata.name);
  if (!ds.spec.sharing) {
    await removeStorageClass(k, events, ds);
    return undefined;
  }
  const desired = buildStorageClass(ds);
  let existing;
  try {
    existing = await k.storage.readStorageClass({ name });
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  if (existing && !storageClassDiffers(existing, desired)) return name;
  if (existing) await deleteIgnoringMissing(() => k.storage.deleteStorageClass({ name }));
  await k.storage.createStorageClass({ body: desired });
  await events.record(ds, 'Normal', existing ? 'StorageClassReplaced' : 'StorageClassCreated', `${existing ? 'recreated' : 'created'} StorageClass ${name}: PVCs naming it in ${sharedWith(ds)} get a read-only view of this Dataset`);
  return name;
}

export async function removeStorageClass(k: KubeClients, events: EventRecorder, ds: Dataset): Promise<void> {
  const name = names.storageClass(ds.metadata.namespace, ds.metadata.name);
  let existing;
  try {
    existing = await k.storage.readStorageClass({ name });
  } catch (e) {
    if (isNotFound(e)) return;
    throw e;
  }
  // Only ever the one this operator made for this Dataset.
  if (existing.provisioner !== CSI_DRIVER || existing.parameters?.dataset !== ds.metadata.name || existing.parameters?.datasetNamespace !== ds.metadata.namespace) return;
  await deleteIgnoringMissing(() => k.storage.deleteStorageClass({ name }));
  await events.record(ds, 'Normal', 'StorageClassRemoved', `removed StorageClass ${name}: no new claims can share this Dataset (volumes already provisioned keep working)`);
}

function sharedWith(ds: Dataset): string {
  const s = ds.spec.sharing;
  if (s?.allNamespaces) return 'any namespace';
  return [ds.metadata.namespace, ...(s?.namespaces ?? [])].map((n) => `"${n}"`).join(', ');
}

/** PVs the CSI controller provisioned for this Dataset (from its StorageClass), sorted by name. */
export async function listSharedVolumes(k: KubeClients, ds: Dataset): Promise<SharedVolume[]> {
  const sc = names.storageClass(ds.metadata.namespace, ds.metadata.name);
  const pvs = await k.core.listPersistentVolume();
  return pvs.items
    .filter((pv: V1PersistentVolume) => pv.spec?.storageClassName === sc && pv.spec?.csi?.driver === CSI_DRIVER)
    .map((pv) => ({
      volume: pv.metadata!.name!,
      ...(pv.spec?.claimRef?.namespace ? { claimNamespace: pv.spec.claimRef.namespace } : {}),
      ...(pv.spec?.claimRef?.name ? { claimName: pv.spec.claimRef.name } : {}),
      ...(pv.status?.phase ? { phase: pv.status.phase } : {}),
    }))
    .sort((a, b) => a.volume.localeCompare(b.volume));
}

/** The claims of shared volumes that still exist: deleting the Dataset waits for them. */
export async function liveSharedClaims(k: KubeClients, volumes: SharedVolume[]): Promise<string[]> {
  const live: string[] = [];
  for (const v of volumes) {
    if (!v.claimNamespace || !v.claimName) continue;
    try {
      await k.core.readNamespacedPersistentVolumeClaim({ namespace: v.claimNamespace, name: v.claimName });
      live.push(`${v.claimNamespace}/${v.claimName}`);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
  return live;
}
