import type { V1PersistentVolume, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { apply, deleteIgnoringMissing } from '../kube/apply.js';
import type { KubeClients } from '../kube/clients.js';
import { isNotFound } from '../kube/errors.js';
import { accessors } from '../kube/resources.js';
import type { ConditionInput } from '../runtime/conditions.js';
import type { EventRecorder } from '../runtime/events.js';
import type { Dataset } from '../api/types.js';

export interface VolumeResult {
  condition: ConditionInput;
  /** Look again soon: a recreation is under way, or waits for pods to let go of the claim. */
  requeueAfterMs?: number;
}

/** Pods still running (or about to) that mount the claim. */
export function podsUsingClaim(pods: V1Pod[], claim: string): string[] {
  return pods
    .filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
    .filter((p) => (p.spec?.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === claim))
    .map((p) => p.metadata!.name!)
    .sort();
}

const json = (v: unknown) => JSON.stringify(v ?? null);

/**
 * What differs between an existing PV/PVC and the desired ones in fields the API server never
 * lets change: the PV's volume source (driver, handle, Secret reference, each volume attribute)
 * and the claim's access modes, class, mode and volume name. Empty when an update in place works.
 */
export function immutableChanges(pv: V1PersistentVolume, want: V1PersistentVolume, pvc: V1PersistentVolumeClaim | undefined, wantPvc: V1PersistentVolumeClaim): string[] {
  const out: string[] = [];
  const have = pv.spec?.csi;
  const need = want.spec!.csi!;
  if (have?.driver !== need.driver) out.push('csi.driver');
  if (have?.volumeHandle !== need.volumeHandle) out.push('csi.volumeHandle');
  if (json(have?.nodeStageSecretRef) !== json(need.nodeStageSecretRef)) out.push('csi.nodeStageSecretRef');
  const attrs = new Set([...Object.keys(have?.volumeAttributes ?? {}), ...Object.keys(need.volumeAttributes ?? {})]);
  for (const k of [...attrs].sort()) if (have?.volumeAttributes?.[k] !== need.volumeAttributes?.[k]) out.push(`volumeAttributes.${k}`);
  if ((pv.spec?.volumeMode ?? 'Filesystem') !== (want.spec!.volumeMode ?? 'Filesystem')) out.push('volumeMode');
  if (pvc) {
    const s = pvc.spec ?? {};
    const w = wantPvc.spec!;
    if (json(s.accessModes) !== json(w.accessModes)) out.push('claim accessModes');
    if ((s.storageClassName ?? '') !== (w.storageClassName ?? '')) out.push('claim storageClassName');
    if ((s.volumeMode ?? 'Filesystem') !== (w.volumeMode ?? 'Filesystem')) out.push('claim volumeMode');
    if (s.volumeName && s.volumeName !== w.volumeName) out.push('claim volumeName');
  }
  return out;
}

/**
 * The Dataset's static PV and its PVC. A real API server refuses any change to a PV's volume
 * source and to most of a claim's spec, so when the Dataset or CacheRuntime changes what the
 * volume carries (mounts, FUSE options, access modes), the pair cannot be updated in place.
 * Like a StatefulSet replacing pods, the operator then recreates both, but only while no pod
 * mounts the claim: a running reader keeps its mount, and the Dataset says what waits on whom
 * (VolumeReady False, VolumeOutdated) until those pods are gone.
 */
export async function reconcileVolume(
  o: { k: KubeClients; events: EventRecorder; log: Logger },
  ds: Dataset,
  pv: V1PersistentVolume,
  pvc: V1PersistentVolumeClaim,
): Promise<VolumeResult> {
  const res = accessors(o.k);
  const { core } = o.k;
  const pvName = pv.metadata!.name!;
  const claimName = pvc.metadata!.name!;
  const namespace = pvc.metadata!.namespace!;
  const read = async <T>(p: Promise<T>) => p.catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
  const existingPv = await read(core.readPersistentVolume({ name: pvName }));
  const existingPvc = await read(core.readNamespacedPersistentVolumeClaim({ name: claimName, namespace }));
  if (existingPv?.metadata?.deletionTimestamp || existingPvc?.metadata?.deletionTimestamp) {
    return {
      condition: { type: 'VolumeReady', status: 'False', reason: 'VolumeRecreating', message: `PV ${pvName} and PVC ${claimName} are being deleted to be created again with the new volume attributes` },
      requeueAfterMs: 1_000,
    };
  }
  const changes = existingPv ? immutableChanges(existingPv, pv, existingPvc, pvc) : [];
  if (changes.length > 0) {
    const users = podsUsingClaim((await core.listNamespacedPod({ namespace })).items, claimName);
    const what = changes.slice(0, 6).join(', ') + (changes.length > 6 ? ', ...' : '');
    if (users.length > 0) {
      const pods = users.slice(0, 5).join(', ') + (users.length > 5 ? ` and ${users.length - 5} more` : '');
      return {
        condition: {
          type: 'VolumeReady',
          status: 'False',
          reason: 'VolumeOutdated',
          message: `PV ${pvName} keeps the settings it was created with (${what}): Kubernetes does not change a volume's source in place; the operator recreates PV and PVC ${claimName} once no pod uses it (now: ${pods}); until then those pods see the old settings`,
        },
        requeueAfterMs: 10_000,
      };
    }
    o.log.info({ pv: pvName, pvc: `${namespace}/${claimName}`, changes }, 'recreating the dataset volume: its immutable fields changed and no pod uses it');
    await o.events.record(ds, 'Normal', 'VolumeRecreating', `recreating PV ${pvName} and PVC ${claimName} with new settings (${what}); no pod uses them`);
    await deleteIgnoringMissing(() => core.deleteNamespacedPersistentVolumeClaim({ name: claimName, namespace }));
    await deleteIgnoringMissing(() => core.deletePersistentVolume({ name: pvName }));
    return {
      condition: { type: 'VolumeReady', status: 'False', reason: 'VolumeRecreating', message: `PV ${pvName} and PVC ${claimName} are being deleted to be created again with the new volume attributes` },
      requeueAfterMs: 1_000,
    };
  }
  const created = await apply(res.pv(pv), pv);
  if (created.action === 'created') await o.events.record(ds, 'Normal', 'VolumeCreated', `created PersistentVolume ${pvName}`);
  const claim = await apply(res.pvc(pvc), pvc);
  const phase = claim.object.status?.phase;
  return {
    condition:
      phase === 'Bound' || phase === undefined
        ? { type: 'VolumeReady', status: 'True', reason: 'VolumeBound', message: `PVC ${claimName} bound to PV ${pvName}` }
        : { type: 'VolumeReady', status: 'False', reason: 'PVCNotBound', message: `PVC ${claimName} is ${phase}, expected Bound to PV ${pvName}` },
  };
}
