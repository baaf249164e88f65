import type { CoreV1Api, V1ConfigMap } from '@kubernetes/client-node';

/** One provisioned view, as CreateVolume made it; the record makes CreateVolume idempotent by name. */
export interface VolumeRecord {
  name: string;
  volumeId: string;
  capacityBytes: number;
  parameters: Record<string, string>;
  volumeContext: Record<string, string>;
  dataset: string;
  datasetNamespace: string;
}

export interface VolumeStore {
  get(volumeId: string): Promise<VolumeRecord | undefined>;
  /** Stores a new record; resolves to the record already stored under that id if there is one. */
  create(record: VolumeRecord): Promise<VolumeRecord>;
  delete(volumeId: string): Promise<void>;
}

const code = (e: unknown) => (e as { code?: unknown })?.code;
const LABELS = { 'app.kubernetes.io/name': 'hoard', 'app.kubernetes.io/component': 'csi-controller' };

/**
 * Records live as ConfigMaps named after the volume id in the controller's namespace: they survive
 * controller restarts and leader changes, need no volume of their own, and hold no secrets (the
 * node-stage Secret is referenced by the StorageClass, never copied here).
 */
export class ConfigMapVolumeStore implements VolumeStore {
  constructor(
    private readonly core: CoreV1Api,
    private readonly namespace: string,
  ) {}

  async get(volumeId: string): Promise<VolumeRecord | undefined> {
    try {
      return fromConfigMap(await this.core.readNamespacedConfigMap({ name: volumeId, namespace: this.namespace }));
    } catch (e) {
      if (code(e) === 404) return undefined;
      throw e;
    }
  }

  async create(record: VolumeRecord): Promise<VolumeRecord> {
    const body: V1ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: record.volumeId,
        namespace: this.namespace,
        labels: { ...LABELS, 'data.hoard.dev/dataset': record.dataset, 'data.hoard.dev/dataset-namespace': record.datasetNamespace },
      },
      data: { 'volume.json': JSON.stringify(record) },
    };
    try {
      await this.core.createNamespacedConfigMap({ namespace: this.namespace, body });
      return record;
    } catch (e) {
      if (code(e) !== 409) throw e;
      // Another CreateVolume for the same name won the race: answer from its record.
      const existing = await this.get(record.volumeId);
      if (!existing) throw e;
      return existing;
    }
  }

  async delete(volumeId: string): Promise<void> {
    try {
      await this.core.deleteNamespacedConfigMap({ name: volumeId, namespace: this.namespace });
    } catch (e) {
      if (code(e) !== 404) throw e;
    }
  }
}

function fromConfigMap(cm: V1ConfigMap): VolumeRecord {
  const text = cm.data?.['volume.json'];
  if (!text) throw new Error(`ConfigMap ${cm.metadata?.name} holds no volume.json`);
  return JSON.parse(text) as VolumeRecord;
}
