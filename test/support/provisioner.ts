// A minimal stand-in for the external-provisioner sidecar (csi-provisioner with
// --extra-create-metadata), so sharing is tested end to end against the API-server emulator:
// for each Pending PVC naming a StorageClass of csi.hoard.dev it calls CreateVolume as the sidecar
// does (name pvc-<uid>, the class's parameters minus the reserved csi.storage.k8s.io/ secret keys,
// plus pvc/name, pvc/namespace, pv/name), creates the PV pre-bound to the claim with the class's
// node-stage Secret as nodeStageSecretRef, or records a ProvisioningFailed Event on the PVC with
// the driver's message. A provisioned PV whose claim is gone gets DeleteVolume.
import { CoreV1Api, StorageV1Api, type KubeConfig, type V1PersistentVolumeClaim, type V1StorageClass } from '@kubernetes/client-node';
import type { ServiceError } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import type { CsiClient } from './csi.js';

const DRIVER = 'csi.hoard.dev';
const RESERVED = 'csi.storage.k8s.io/';
const MODES: Record<string, string> = { ReadOnlyMany: 'MULTI_NODE_READER_ONLY', ReadWriteOnce: 'SINGLE_NODE_WRITER', ReadWriteMany: 'MULTI_NODE_MULTI_WRITER', ReadWriteOncePod: 'SINGLE_NODE_SINGLE_WRITER' };
const UNITS: Record<string, number> = { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50 };

function bytes(q: string | undefined): number {
  const m = /^(\d+)(Ki|Mi|Gi|Ti|Pi)?$/.exec(q ?? '');
  return m ? Number(m[1]) * UNITS[m[2] ?? '']! : 0;
}

export interface Provisioner {
  /** CreateVolume/DeleteVolume calls made, for assertions. */
  calls: { method: string; name: string; ok: boolean; message?: string }[];
  stop(): Promise<void>;
}

export function startProvisioner(kc: KubeConfig, csi: CsiClient, intervalMs = 200): Provisioner {
  const core = kc.makeApiClient(CoreV1Api);
  const storage = kc.makeApiClient(StorageV1Api);
  const calls: Provisioner['calls'] = [];
  const provisioned = new Map<string, string>(); // PV name -> volume id
  const failedAt = new Map<string, number>();
  let stopped = false;

  async function event(pvc: V1PersistentVolumeClaim, reason: string, message: string, type = 'Warning') {
    const now = new Date();
    await core.createNamespacedEvent({
      namespace: pvc.metadata!.namespace!,
      body: {
        metadata: { name: `${pvc.metadata!.name}.${randomBytes(6).toString('hex')}`, namespace: pvc.metadata!.namespace },
        involvedObject: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: pvc.metadata!.name, namespace: pvc.metadata!.namespace, uid: pvc.metadata!.uid },
        reason,
        message,
        type,
        source: { component: `${DRIVER}_csi-provisioner` },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  }

  async function provision(pvc: V1PersistentVolumeClaim, sc: V1StorageClass) {
    const pvName = `pvc-${pvc.metadata!.uid}`;
    const parameters: Record<string, string> = {};
    for (const [k, v] of Object.entries(sc.parameters ?? {})) if (!k.startsWith(RESERVED)) parameters[k] = v;
    Object.assign(parameters, { [`${RESERVED}pvc/name`]: pvc.metadata!.name!, [`${RESERVED}pvc/namespace`]: pvc.metadata!.namespace!, [`${RESERVED}pv/name`]: pvName });
    const requested = bytes(pvc.spec?.resources?.requests?.storage as string | undefined);
    try {
      const { volume } = await csi.controller.CreateVolume({
        name: pvName,
        parameters,
        capacity_range: { required_bytes: requested },
        volume_capabilities: (pvc.spec?.accessModes ?? []).map((m) => ({ mount: {}, access_mode: { mode: MODES[m] ?? 'UNKNOWN' } })),
      });
      calls.push({ method: 'CreateVolume', name: pvName, ok: true });
      const secretName = sc.parameters?.[`${RESERVED}node-stage-secret-name`];
      const secretNs = sc.parameters?.[`${RESERVED}node-stage-secret-namespace`];
      await core.createPersistentVolume({
        body: {
          metadata: { name: pvName, annotations: { 'pv.kubernetes.io/provisioned-by': DRIVER } },
          spec: {
            capacity: { storage: String(volume.capacity_bytes || requested) },
            accessModes: pvc.spec?.accessModes,
            persistentVolumeReclaimPolicy: sc.reclaimPolicy ?? 'Delete',
            storageClassName: sc.metadata!.name,
            volumeMode: 'Filesystem',
            claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: pvc.metadata!.namespace, name: pvc.metadata!.name, uid: pvc.metadata!.uid },
            csi: {
              driver: DRIVER,
              volumeHandle: volume.volume_id,
              volumeAttributes: volume.volume_context,
              ...(secretName && secretNs ? { nodeStageSecretRef: { name: secretName, namespace: secretNs } } : {}),
            },
          },
        },
      });
      provisioned.set(pvName, volume.volume_id);
      await event(pvc, 'ProvisioningSucceeded', `Successfully provisioned volume ${pvName}`, 'Normal');
    } catch (err) {
      const e = err as ServiceError;
      calls.push({ method: 'CreateVolume', name: pvName, ok: false, message: e.details ?? e.message });
      failedAt.set(pvName, Date.now());
      await event(pvc, 'ProvisioningFailed', `failed to provision volume with StorageClass "${sc.metadata!.name}": rpc error: code = ${e.code} desc = ${e.details ?? e.message}`);
    }
  }

  async function pass() {
    const classes = new Map((await storage.listStorageClass()).items.filter((c) => c.provisioner === DRIVER).map((c) => [c.metadata!.name!, c]));
    const pvs = new Set((await core.listPersistentVolume()).items.map((v) => v.metadata!.name!));
    for (const pvc of (await core.listPersistentVolumeClaimForAllNamespaces()).items) {
      const sc = classes.get(pvc.spec?.storageClassName ?? '');
      if (!sc || pvc.spec?.volumeName || pvc.metadata?.deletionTimestamp || pvs.has(`pvc-${pvc.metadata!.uid}`)) continue;
      const last = failedAt.get(`pvc-${pvc.metadata!.uid}`);
      if (last && Date.now() - last < 1000) continue; // the sidecar backs off between retries too
      await provision(pvc, sc);
    }
    // The emulator's PV controller deletes a Delete-policy PV whose claim is gone; the sidecar
    // would call DeleteVolume first: do it for every provisioned PV that went away.
    for (const [pvName, volumeId] of provisioned) {
      if (pvs.has(pvName)) continue;
      provisioned.delete(pvName);
      await csi.controller.DeleteVolume({ volume_id: volumeId });
      calls.push({ method: 'DeleteVolume', name: pvName, ok: true });
    }
  }

  const loop = (async () => {
    while (!stopped) {
      await pass().catch(() => undefined);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    calls,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
