import { ApiError } from './errors.js';
import type { Propagation, Store } from './store.js';
import type { KObject, ResourceType, StoreEvent } from './types.js';

const FOREGROUND = 'foregroundDeletion';

/**
 * The garbage collector and namespace controller, reduced to what controllers observe:
 * - background: when an owner is removed, dependents naming its uid are deleted (or lose the
 *   reference when another owner still exists); dependents whose owners never existed go too;
 * - foreground: the owner keeps `foregroundDeletion` until its dependents are gone;
 * - orphan: dependents lose their ownerReference and stay;
 * - namespaces: deleting one deletes its content, then the namespace.
 * Work runs on the next macrotask, like the real (asynchronous) controllers.
 */
export class GarbageCollector {
  private readonly queue: (() => void)[] = [];
  private scheduled = false;

  constructor(private readonly store: Store) {
    store.use({
      deletionFinalizers: (rt, obj, policy) => this.deletionFinalizers(rt, obj, policy),
      deleting: (rt, obj, policy) => this.deleting(rt, obj, policy),
      committed: (ev) => this.committed(ev),
    });
  }

  private schedule(task: () => void): void {
    this.queue.push(task);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      // Tasks may enqueue more work; it runs in a later turn so HTTP requests interleave.
      for (const t of this.queue.splice(0)) {
        try {
          t();
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
        }
      }
    });
  }

  private deletionFinalizers(_rt: ResourceType, obj: KObject, policy: Propagation): string[] {
    if (policy === 'Orphan') {
      for (const dep of this.store.dependentsOf(obj.metadata.uid)) this.dropOwnerRef(dep, obj.metadata.uid);
      return [];
    }
    if (policy === 'Foreground' && this.store.dependentsOf(obj.metadata.uid).length) return [FOREGROUND];
    return [];
  }

  private deleting(rt: ResourceType, obj: KObject, policy: Propagation): void {
    if (policy === 'Foreground') this.schedule(() => this.deleteDependents(obj.metadata.uid));
    if (rt.storageKey === '/namespaces') {
      const ns = obj.metadata.name;
      this.schedule(() => {
        for (const { rt: depRt, obj: dep } of this.store.objectsInNamespace(ns)) {
          if (!dep.metadata.deletionTimestamp) this.tryDelete(depRt, dep, 'Background');
        }
        this.finishNamespace(ns);
      });
    }
  }

  private committed(ev: StoreEvent): void {
    const md = ev.object.metadata;
    if (ev.type === 'DELETED') {
      const uid = md.uid;
      this.schedule(() => this.deleteDependents(uid));
      for (const ref of md.ownerReferences ?? []) this.schedule(() => this.finishForeground(ref.uid));
      if (md.namespace) this.schedule(() => this.finishNamespace(md.namespace));
      return;
    }
    const refs: { uid: string }[] = md.ownerReferences ?? [];
    const oldRefs = JSON.stringify(ev.old?.metadata.ownerReferences ?? []);
    if (refs.length && JSON.stringify(refs) !== oldRefs) this.schedule(() => this.checkOwners(ev.rt, md.namespace, md.name));
  }

  /** Dependents of a removed (or foreground-deleting) owner: delete, or just drop the reference if another owner lives. */
  private deleteDependents(ownerUid: string): void {
    const owner = this.store.byUidLookup(ownerUid);
    for (const dep of this.store.dependentsOf(ownerUid)) {
      const rt = this.store.typeOf(dep);
      if (!rt || dep.metadata.deletionTimestamp) continue;
      const others = (dep.metadata.ownerReferences ?? []).filter((r: { uid: string }) => r.uid !== ownerUid && this.store.byUidLookup(r.uid));
      if (owner && !owner.metadata.deletionTimestamp) continue;
      if (others.length) this.dropOwnerRef(dep, ownerUid);
      else this.tryDelete(rt, dep, 'Background');
    }
  }

  /** A dependent created or updated with owners that do not exist (any more) is collected, like the real GC does. */
  private checkOwners(rt: ResourceType, ns: string | undefined, name: string): void {
    const dep = this.store.tryGet(rt, ns, name);
    if (!dep || dep.metadata.deletionTimestamp) return;
    const refs: { uid: string }[] = dep.metadata.ownerReferences ?? [];
    const alive = refs.filter((r) => this.store.byUidLookup(r.uid));
    if (alive.length === refs.length) return;
    if (alive.length === 0) this.tryDelete(rt, dep, 'Background');
    else this.store.write(rt, dep, { ...dep, metadata: { ...dep.metadata, ownerReferences: alive } });
  }

  private finishForeground(ownerUid: string): void {
    const owner = this.store.byUidLookup(ownerUid);
    if (!owner?.metadata.deletionTimestamp || !(owner.metadata.finalizers ?? []).includes(FOREGROUND)) return;
    if (this.store.dependentsOf(ownerUid).length) return;
    const rt = this.store.typeOf(owner);
    if (!rt) return;
    const finalizers = owner.metadata.finalizers.filter((f: string) => f !== FOREGROUND);
    this.store.write(rt, owner, { ...owner, metadata: { ...owner.metadata, finalizers } });
  }

  private finishNamespace(ns: string): void {
    const nsRt = this.store.registry.lookup('', 'v1', 'namespaces')!;
    const namespace = this.store.tryGet(nsRt, undefined, ns);
    if (!namespace?.metadata.deletionTimestamp || this.store.countInNamespace(ns) > 0) return;
    if (!(namespace.spec?.finalizers ?? []).length) return;
    this.store.write(nsRt, namespace, { ...namespace, spec: { ...namespace.spec, finalizers: [] } });
  }

  private dropOwnerRef(dep: KObject, ownerUid: string): void {
    const rt = this.store.typeOf(dep);
    if (!rt) return;
    const refs = (dep.metadata.ownerReferences ?? []).filter((r: { uid: string }) => r.uid !== ownerUid);
    const metadata = { ...dep.metadata, ownerReferences: refs };
    if (!refs.length) delete metadata.ownerReferences;
    this.store.write(rt, dep, { ...dep, metadata });
  }

  private tryDelete(rt: ResourceType, obj: KObject, policy: Propagation): void {
    try {
      this.store.delete(rt, obj.metadata.namespace, obj.metadata.name, { propagationPolicy: policy, preconditions: { uid: obj.metadata.uid } });
    } catch (err) {
      if (!(err instanceof ApiError) || (err.code !== 404 && err.code !== 409)) throw err;
    }
  }
}
