import { parseSize } from '../../../lib/units.js';
import { cause, invalid } from './errors.js';
import type { Registry } from './registry.js';
import type { Store } from './store.js';
import type { FieldCause, KObject } from './types.js';
import { deepEqual } from './util.js';

/**
 * Fields a real API server refuses to change after creation (storage.k8s.io validation of
 * StorageClass updates): a client that needs another value must delete and create again.
 */
const STORAGE_CLASS_IMMUTABLE = ['provisioner', 'parameters', 'reclaimPolicy', 'volumeBindingMode'] as const;

/** The members of core/v1 PersistentVolumeSource: a PV's volume source is fixed at creation. */
const PV_SOURCES = [
  'gcePersistentDisk', 'awsElasticBlockStore', 'hostPath', 'glusterfs', 'nfs', 'rbd', 'iscsi', 'cinder', 'cephfs', 'fc', 'flocker', 'flexVolume',
  'azureFile', 'vsphereVolume', 'quobyte', 'azureDisk', 'photonPersistentDisk', 'portworxVolume', 'scaleIO', 'local', 'storageos', 'csi',
] as const;

const pick = (spec: Record<string, any> | undefined, keys: readonly string[]) => Object.fromEntries(keys.filter((k) => spec?.[k] !== undefined).map((k) => [k, spec![k]]));

/** A short rendering of what changed (the real message carries a Go cmp.Diff here). */
function diff(old: Record<string, any>, next: Record<string, any>): string {
  const keys = [...new Set([...Object.keys(old), ...Object.keys(next)])].filter((k) => !deepEqual(old[k], next[k])).sort();
  return keys.map((k) => `\n- ${k}: ${JSON.stringify(old[k] ?? null)}\n+ ${k}: ${JSON.stringify(next[k] ?? null)}`).join('');
}

const storageOf = (spec: Record<string, any> | undefined): number | undefined => {
  const q = spec?.resources?.requests?.storage;
  if (q === undefined) return undefined;
  try {
    return parseSize(q);
  } catch {
    return undefined;
  }
};

/** ValidatePersistentVolumeUpdate: the volume source, volumeMode and a set nodeAffinity stay as created. */
export function persistentVolumeUpdateCauses(old: KObject, next: KObject): FieldCause[] {
  const causes: FieldCause[] = [];
  const was = pick(old.spec, PV_SOURCES);
  const now = pick(next.spec, PV_SOURCES);
  if (!deepEqual(was, now)) {
    causes.push(cause('FieldValueForbidden', 'spec.persistentvolumesource', `Forbidden: spec.persistentvolumesource is immutable after creation${diff(was, now)}`));
  }
  const mode = (o: KObject) => o.spec?.volumeMode ?? 'Filesystem';
  if (mode(old) !== mode(next)) causes.push(cause('FieldValueInvalid', 'volumeMode', `Invalid value: "${mode(next)}": field is immutable`));
  if (old.spec?.nodeAffinity !== undefined && !deepEqual(old.spec.nodeAffinity, next.spec?.nodeAffinity)) {
    causes.push(cause('FieldValueInvalid', 'nodeAffinity', `Invalid value: ${JSON.stringify(next.spec?.nodeAffinity ?? null)}: field is immutable`));
  }
  return causes;
}

/**
 * ValidatePersistentVolumeClaimUpdate (1.29+ wording): the spec is fixed, except that an unset
 * volumeName may be set once, an unset storageClassName may be set (retroactive default class),
 * and a Bound claim may grow resources.requests.storage.
 */
export function persistentVolumeClaimUpdateCauses(old: KObject, next: KObject): FieldCause[] {
  const causes: FieldCause[] = [];
  const normal = (spec: Record<string, any> | undefined, from: 'old' | 'new') => {
    const s: Record<string, any> = structuredClone(spec ?? {});
    s.volumeMode ??= 'Filesystem';
    if (!old.spec?.volumeName) delete s.volumeName;
    const upgradeFromNil = old.spec?.storageClassName == null && !old.metadata.annotations?.['volume.beta.kubernetes.io/storage-class'];
    if (upgradeFromNil && (from === 'old' || (typeof s.storageClassName === 'string' && s.storageClassName !== ''))) delete s.storageClassName;
    // Status is not client-writable here: old and new share the old phase, as the update strategy makes it.
    if (old.status?.phase === 'Bound' && s.resources?.requests) delete s.resources.requests.storage;
    // Equal quantities written differently (1Gi, 1024Mi) are no change.
    if (old.status?.phase !== 'Bound' && s.resources?.requests?.storage !== undefined) s.resources.requests.storage = storageOf(s) ?? s.resources.requests.storage;
    return s;
  };
  const was = normal(old.spec, 'old');
  const now = normal(next.spec, 'new');
  if (!deepEqual(was, now)) {
    causes.push(cause('FieldValueForbidden', 'spec', `Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims${diff(was, now)}`));
  }
  const before = storageOf(old.spec);
  const after = storageOf(next.spec);
  if (before !== undefined && after !== undefined && after < before) {
    causes.push(cause('FieldValueForbidden', 'spec.resources.requests.storage', 'Forbidden: field can not be less than previous value'));
  }
  return causes;
}

export function enforceImmutableFields(store: Store, registry: Registry): void {
  const storageClasses = registry.lookup('storage.k8s.io', 'v1', 'storageclasses');
  const pvs = registry.lookup('', 'v1', 'persistentvolumes');
  const pvcs = registry.lookup('', 'v1', 'persistentvolumeclaims');
  store.use({
    admit: (rt, next, old) => {
      if (!old) return;
      let causes: FieldCause[] = [];
      if (rt === storageClasses) {
        const changed = STORAGE_CLASS_IMMUTABLE.filter((f) => JSON.stringify(next[f] ?? null) !== JSON.stringify(old[f] ?? null));
        causes = changed.map((f) => cause('FieldValueForbidden', f, `Forbidden: updates to ${f} are forbidden.`));
      } else if (rt === pvs) causes = persistentVolumeUpdateCauses(old, next);
      else if (rt === pvcs) causes = persistentVolumeClaimUpdateCauses(old, next);
      if (causes.length) throw invalid(rt, old.metadata.name, causes);
    },
  });
}
