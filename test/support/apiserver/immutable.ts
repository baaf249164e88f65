import { cause, invalid } from './errors.js';
import type { Registry } from './registry.js';
import type { Store } from './store.js';

/**
 * Fields a real API server refuses to change after creation (storage.k8s.io validation of
 * StorageClass updates): a client that needs another value must delete and create again.
 */
const STORAGE_CLASS_IMMUTABLE = ['provisioner', 'parameters', 'reclaimPolicy', 'volumeBindingMode'] as const;

export function enforceImmutableFields(store: Store, registry: Registry): void {
  const storageClasses = registry.lookup('storage.k8s.io', 'v1', 'storageclasses');
  store.use({
    admit: (rt, next, old) => {
      if (!old || rt !== storageClasses) return;
      const changed = STORAGE_CLASS_IMMUTABLE.filter((f) => JSON.stringify(next[f] ?? null) !== JSON.stringify(old[f] ?? null));
      if (changed.length) throw invalid(rt, old.metadata.name, changed.map((f) => cause('FieldValueForbidden', f, `Forbidden: updates to ${f} are forbidden.`)));
    },
  });
}
