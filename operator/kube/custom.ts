import type { HoardResource } from '../api/types.js';
import { GROUP, PLURALS, VERSION } from '../api/types.js';
import type { KubeClients } from './clients.js';

type Kind = HoardResource['kind'];

/** Typed access to our custom resources through CustomObjectsApi (plain JSON objects). */
export class CustomResources {
  constructor(private readonly k: KubeClients) {}

  private args(kind: Kind, namespace: string) {
    return { group: GROUP, version: VERSION, plural: PLURALS[kind], namespace };
  }

  async get<T extends HoardResource>(kind: T['kind'], namespace: string, name: string): Promise<T> {
    return (await this.k.custom.getNamespacedCustomObject({ ...this.args(kind, namespace), name })) as T;
  }

  async list<T extends HoardResource>(kind: T['kind'], namespace?: string): Promise<T[]> {
    const res = namespace
      ? await this.k.custom.listNamespacedCustomObject({ ...this.args(kind, namespace) })
      : await this.k.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURALS[kind] });
    return ((res as { items?: T[] }).items ?? []) as T[];
  }

  /** PUT of the main resource (metadata/spec); status is ignored by the server. */
  async replace<T extends HoardResource>(obj: T): Promise<T> {
    const { namespace, name } = obj.metadata;
    return (await this.k.custom.replaceNamespacedCustomObject({ ...this.args(obj.kind, namespace), name, body: obj })) as T;
  }

  /** PUT of the status subresource with the object's resourceVersion (conflict = stale read). */
  async replaceStatus<T extends HoardResource>(obj: T): Promise<T> {
    const { namespace, name } = obj.metadata;
    return (await this.k.custom.replaceNamespacedCustomObjectStatus({ ...this.args(obj.kind, namespace), name, body: obj })) as T;
  }

  async delete(kind: Kind, namespace: string, name: string): Promise<void> {
    await this.k.custom.deleteNamespacedCustomObject({ ...this.args(kind, namespace), name });
  }
}
