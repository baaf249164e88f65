import type { CoreV1Api, CustomObjectsApi, V1PersistentVolume } from '@kubernetes/client-node';

/** The parts of a Dataset the controller reads; the operator's API types stay in operator/. */
export interface DatasetView {
  metadata: { name: string; namespace: string; deletionTimestamp?: string | Date };
  spec?: { sharing?: { namespaces?: string[]; allNamespaces?: boolean } };
  status?: { phase?: string; pv?: string };
}

export interface DatasetSource {
  /** The Dataset, or undefined when there is none. */
  dataset(namespace: string, name: string): Promise<DatasetView | undefined>;
  /** The operator's PersistentVolume for the Dataset, or undefined. */
  volume(name: string): Promise<V1PersistentVolume | undefined>;
}

const code = (e: unknown) => (e as { code?: unknown })?.code;

async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (code(e) === 404) return undefined;
    throw e;
  }
}

export class KubeDatasetSource implements DatasetSource {
  constructor(
    private readonly custom: CustomObjectsApi,
    private readonly core: CoreV1Api,
  ) {}

  dataset(namespace: string, name: string): Promise<DatasetView | undefined> {
    return orUndefined(this.custom.getNamespacedCustomObject({ group: 'data.hoard.dev', version: 'v1alpha1', plural: 'datasets', namespace, name }) as Promise<DatasetView>);
  }

  volume(name: string): Promise<V1PersistentVolume | undefined> {
    return orUndefined(this.core.readPersistentVolume({ name }));
  }
}
