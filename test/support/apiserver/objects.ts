import { ApiError } from './errors.js';
import type { DeleteOptions, PatchType, Store } from './store.js';
import type { KObject, ResourceType, StoreEvent } from './types.js';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

/**
 * Direct, in-process access to the emulator's objects by apiVersion + kind, for test setup and
 * assertions. Writes follow exactly the same rules as HTTP requests (validation, resourceVersion,
 * finalizers, watch events).
 */
export class Objects {
  constructor(private readonly store: Store) {}

  type(apiVersion: string, kind: string): ResourceType {
    const rt = this.store.registry.byKind(apiVersion, kind);
    if (!rt) throw new Error(`the emulator serves no ${kind} in ${apiVersion} (install its CRD first)`);
    return rt;
  }

  get(ref: ObjectRef): KObject | undefined {
    return this.store.tryGet(this.type(ref.apiVersion, ref.kind), ref.namespace, ref.name);
  }

  list(apiVersion: string, kind: string, namespace?: string): KObject[] {
    return this.store.list(this.type(apiVersion, kind), namespace);
  }

  create(obj: KObject): KObject {
    return this.store.create(this.type(obj.apiVersion, obj.kind), obj.metadata.namespace, obj);
  }

  update(obj: KObject, subresource?: 'status'): KObject {
    return this.store.update(this.type(obj.apiVersion, obj.kind), obj.metadata.namespace, obj.metadata.name, obj, { subresource });
  }

  patch(ref: ObjectRef, patch: unknown, type: PatchType = 'merge', subresource?: 'status'): KObject {
    return this.store.patch(this.type(ref.apiVersion, ref.kind), ref.namespace, ref.name, type, patch, { subresource }).object;
  }

  /** Delete; returns false when the object did not exist. */
  delete(ref: ObjectRef, opts: DeleteOptions = {}): boolean {
    try {
      this.store.delete(this.type(ref.apiVersion, ref.kind), ref.namespace, ref.name, opts);
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return false;
      throw err;
    }
  }

  /** Every committed change, synchronously. Returns an unsubscribe function. */
  onChange(fn: (ev: StoreEvent) => void): () => void {
    return this.store.subscribe(fn);
  }

  /**
   * Resolve with the object once `predicate` holds (checked now and on every change), or reject
   * after `timeoutMs` with the last state seen. `predicate(undefined)` lets callers wait for deletion.
   */
  waitFor(ref: ObjectRef, predicate: (obj: KObject | undefined) => boolean, timeoutMs = 10_000): Promise<KObject | undefined> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const rt = this.store.registry.byKind(ref.apiVersion, ref.kind);
        const obj = rt ? this.store.tryGet(rt, ref.namespace, ref.name) : undefined;
        if (!predicate(obj)) return false;
        clearTimeout(timer);
        off();
        resolve(obj);
        return true;
      };
      const timer = setTimeout(() => {
        off();
        const last = this.get(ref);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}; last state: ${JSON.stringify(last ?? null).slice(0, 2000)}`));
      }, timeoutMs);
      const off = this.store.subscribe(() => void check());
      check();
    });
  }
}
