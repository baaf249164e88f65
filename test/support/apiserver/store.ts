import { randomUUID } from 'node:crypto';
import { alreadyExists, ApiError, badRequest, cause, conflict, forbidden, invalid, namespaceNotFound, notFound } from './errors.js';
import { nodeFor, strictDecodingMessage, typedPatchMessage, unknownFields } from './fields.js';
import { metadataCauses } from './metadata.js';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import type { Registry } from './registry.js';
import type { Selector } from './selectors.js';
import type { KObject, ResourceType, StoreEvent, WatchEventType } from './types.js';
import { deepEqual, isObject, now, randomSuffix } from './util.js';
import { WatchHub } from './watch.js';

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';
export type Propagation = 'Background' | 'Foreground' | 'Orphan';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteOptions {
  dryRun?: boolean;
  subresource?: 'status';
  /** Unknown fields: Strict refuses them (400), Warn (the server default) and Ignore drop them. */
  fieldValidation?: FieldValidation;
  /** Collects the Warning headers of the request (unknown fields dropped under Warn). */
  warnings?: string[];
}

export interface DeleteOptions {
  propagationPolicy?: Propagation;
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

/** Extension points used by CRD installation and garbage collection (see crds.ts, gc.ts). */
export interface StoreHooks {
  /** Validate/mutate a candidate object before it is stored; throw ApiError to reject. */
  admit?(rt: ResourceType, next: KObject, old: KObject | undefined): void;
  /** Finalizers to add when a DELETE starts (e.g. foregroundDeletion). */
  deletionFinalizers?(rt: ResourceType, obj: KObject, policy: Propagation): string[];
  /** An object just received its deletionTimestamp. */
  deleting?(rt: ResourceType, obj: KObject, policy: Propagation): void;
  /** Called after every committed change. */
  committed?(ev: StoreEvent): void;
}

const NAMESPACE_FINALIZER = 'kubernetes';

function objKey(ns: string | undefined, name: string): string {
  return `${ns ?? ''}/${name}`;
}

/** Present a stored object as the requested version (storage is shared across versions, no conversion). */
export function asVersion(obj: KObject, rt: ResourceType): KObject {
  return obj.apiVersion === rt.apiVersion && obj.kind === rt.kind ? obj : { ...obj, apiVersion: rt.apiVersion, kind: rt.kind };
}

/** Finalizers that still block removal; namespaces also wait on spec.finalizers. */
function pendingFinalizers(rt: ResourceType, obj: KObject): number {
  const own = (obj.metadata.finalizers ?? []).length;
  return rt.storageKey === '/namespaces' ? own + (obj.spec?.finalizers ?? []).length : own;
}

/**
 * The object store: kube-apiserver semantics over in-memory maps. Every write produces a new
 * object (stored objects are never mutated), bumps the global resourceVersion and is published to
 * the watch hub and to in-process listeners (the kubelet simulation, tests).
 */
export class Store {
  readonly hub: WatchHub;
  private rv = 0;
  private readonly buckets = new Map<string, Map<string, KObject>>();
  private readonly byUid = new Map<string, { storageKey: string; key: string }>();
  /** owner uid -> dependent uids, for garbage collection. */
  private readonly dependents = new Map<string, Set<string>>();
  private readonly nsCounts = new Map<string, number>();
  private readonly hooks: StoreHooks[] = [];
  private readonly listeners = new Set<(ev: StoreEvent) => void>();

  constructor(
    readonly registry: Registry,
    opts: { watchHistory?: number } = {},
  ) {
    this.hub = new WatchHub(opts.watchHistory ?? 10_000);
  }

  use(hooks: StoreHooks): void {
    this.hooks.push(hooks);
  }

  /** Listen to every committed change (synchronously, in commit order). Returns an unsubscribe function. */
  subscribe(fn: (ev: StoreEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  currentResourceVersion(): string {
    return String(this.rv);
  }

  private bucket(rt: ResourceType): Map<string, KObject> {
    let b = this.buckets.get(rt.storageKey);
    if (!b) this.buckets.set(rt.storageKey, (b = new Map()));
    return b;
  }

  // ---- reads ----

  tryGet(rt: ResourceType, ns: string | undefined, name: string): KObject | undefined {
    const obj = this.bucket(rt).get(objKey(rt.namespaced ? ns : undefined, name));
    return obj && asVersion(obj, rt);
  }

  get(rt: ResourceType, ns: string | undefined, name: string): KObject {
    const obj = this.tryGet(rt, ns, name);
    if (!obj) throw notFound(rt, name);
    return obj;
  }

  byUidLookup(uid: string): KObject | undefined {
    const loc = this.byUid.get(uid);
    return loc && this.buckets.get(loc.storageKey)?.get(loc.key);
  }

  /** Objects of a type, optionally in one namespace, filtered, sorted by namespace/name. */
  list(rt: ResourceType, ns?: string, filter?: Selector): KObject[] {
    const out: [string, KObject][] = [];
    const prefix = rt.namespaced && ns ? `${ns}/` : undefined;
    for (const [key, obj] of this.bucket(rt)) {
      if (prefix && !key.startsWith(prefix)) continue;
      const v = asVersion(obj, rt);
      if (!filter || filter(v)) out.push([key, v]);
    }
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
  }

  dependentsOf(uid: string): KObject[] {
    const out: KObject[] = [];
    for (const d of this.dependents.get(uid) ?? []) {
      const obj = this.byUidLookup(d);
      if (obj) out.push(obj);
    }
    return out;
  }

  countInNamespace(ns: string): number {
    return this.nsCounts.get(ns) ?? 0;
  }

  /** All stored objects in a namespace, with their resource types (namespace cleanup). */
  objectsInNamespace(ns: string): { rt: ResourceType; obj: KObject }[] {
    const out: { rt: ResourceType; obj: KObject }[] = [];
    for (const [storageKey, bucket] of this.buckets) {
      const rt = this.registry.byStorageKey(storageKey);
      if (!rt?.namespaced) continue;
      for (const [key, obj] of bucket) if (key.startsWith(`${ns}/`)) out.push({ rt, obj });
    }
    return out;
  }

  /** The resource type describing a stored object (by its apiVersion/kind, else any version of its bucket). */
  typeOf(obj: KObject): ResourceType | undefined {
    return this.registry.byKind(obj.apiVersion, obj.kind);
  }

  // ---- writes ----

  create(rt: ResourceType, ns: string | undefined, request: unknown, opts: WriteOptions = {}): KObject {
    if (!isObject(request)) throw badRequest('the request body must be a JSON object');
    this.checkKind(rt, request);
    const body = decodeFields(rt, request, opts);
    const md: Record<string, any> = isObject(body.metadata) ? { ...body.metadata } : {};
    if (rt.namespaced) {
      if (md.namespace && ns && md.namespace !== ns) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      ns = ns ?? md.namespace;
      if (!ns) throw badRequest('a namespace is required for namespaced resources');
      md.namespace = ns;
      const nsRt = this.registry.lookup('', 'v1', 'namespaces')!;
      const namespace = this.tryGet(nsRt, undefined, ns);
      if (!namespace) throw namespaceNotFound(ns);
      if (namespace.metadata.deletionTimestamp) {
        throw forbidden(rt, String(md.name ?? md.generateName ?? ''), `unable to create new content in namespace ${ns} because it is being terminated`);
      }
    } else delete md.namespace;
    if (!md.name) {
      if (!md.generateName) throw invalid(rt, '', [cause('FieldValueRequired', 'metadata.name', 'Required value: name or generateName is required')]);
      for (let i = 0; i < 8 && (!md.name || this.bucket(rt).has(objKey(md.namespace, md.name))); i++) md.name = `${md.generateName}${randomSuffix()}`;
    }
    for (const k of ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'selfLink', 'generation']) delete md[k];
    const next: KObject = { ...body, apiVersion: rt.apiVersion, kind: rt.kind, metadata: md };
    if (rt.statusSubresource) delete next.status;
    initialState(rt, next);
    if (this.bucket(rt).has(objKey(md.namespace, md.name))) throw alreadyExists(rt, md.name);
    const admitted = this.admit(rt, next, undefined);
    admitted.metadata.uid = randomUUID();
    admitted.metadata.creationTimestamp = now();
    if (rt.generation) admitted.metadata.generation = 1;
    if (opts.dryRun) return { ...admitted, metadata: { ...admitted.metadata, resourceVersion: this.currentResourceVersion() } };
    return this.commit(rt, 'ADDED', admitted, undefined);
  }

  /** PUT: replace the object (or only its status with subresource 'status'), with optimistic concurrency. */
  update(rt: ResourceType, ns: string | undefined, name: string, request: unknown, opts: WriteOptions = {}): KObject {
    if (!isObject(request)) throw badRequest('the request body must be a JSON object');
    this.checkKind(rt, request);
    const body = decodeFields(rt, request, opts);
    const bodyMd: Record<string, any> = isObject(body.metadata) ? body.metadata : {};
    if (bodyMd.name !== undefined && bodyMd.name !== name) throw badRequest(`the name of the object (${String(bodyMd.name)}) does not match the name on the URL (${name})`);
    if (rt.namespaced && bodyMd.namespace && bodyMd.namespace !== ns) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    const old = this.get(rt, ns, name);
    if (bodyMd.resourceVersion && bodyMd.resourceVersion !== old.metadata.resourceVersion) throw conflict(rt, name);
    let next: KObject;
    if (opts.subresource === 'status') {
      next = { ...old };
      if (body.status === undefined) delete next.status;
      else next.status = body.status;
    } else {
      next = { ...body, apiVersion: rt.apiVersion, kind: rt.kind, metadata: carryMetadata(bodyMd, old.metadata) };
      if (rt.statusSubresource) {
        if (old.status === undefined) delete next.status;
        else next.status = old.status;
      }
    }
    return this.write(rt, old, next, opts);
  }

  /** PATCH in any of the four content types. Server-side apply creates the object when missing. */
  patch(rt: ResourceType, ns: string | undefined, name: string, type: PatchType, patch: unknown, opts: WriteOptions = {}): { object: KObject; created: boolean } {
    const plan = this.preparePatch(rt, ns, name, type, patch, opts);
    if (plan.old === undefined) return { object: this.create(rt, ns, plan.body, opts), created: true };
    return { object: this.update(rt, ns, name, plan.body, opts), created: false };
  }

  /**
   * What a PATCH amounts to: the body to create with (apply of a missing object, `old` unset) or
   * to update with (carrying the precondition resourceVersion). Admission runs on this body.
   */
  preparePatch(rt: ResourceType, ns: string | undefined, name: string, type: PatchType, patch: unknown, opts: WriteOptions = {}): { body: Record<string, any>; old?: KObject } {
    if (type === 'apply') checkApplyFields(rt, patch);
    const old = this.tryGet(rt, ns, name);
    if (!old) {
      if (type !== 'apply' || opts.subresource) throw notFound(rt, name);
      if (!isObject(patch)) throw badRequest('apply patch must be an object');
      const md = isObject(patch.metadata) ? patch.metadata : {};
      if (md.name !== undefined && md.name !== name) throw badRequest(`the name of the object (${String(md.name)}) does not match the name on the URL (${name})`);
      return { body: { ...patch, metadata: { ...md, name } } };
    }
    let patched: unknown;
    if (type === 'json') patched = jsonPatch(old, patch);
    else {
      if (!isObject(patch)) throw badRequest(`${type} patch body must be a JSON object`);
      patched = type === 'strategic' ? strategicMergePatch(old, patch) : mergePatch(old, patch);
    }
    if (!isObject(patched)) throw badRequest('the patch produced a non-object');
    const md = isObject(patched.metadata) ? patched.metadata : {};
    // A resourceVersion inside the patch is a precondition; otherwise the patch applies to the current state.
    const rv = type === 'json' || !isObject(patch) || !isObject(patch.metadata) || !patch.metadata.resourceVersion ? old.metadata.resourceVersion : md.resourceVersion;
    return { body: { ...patched, metadata: { ...md, resourceVersion: rv } }, old };
  }

  /**
   * A request body as the server decodes it before admission: kind and apiVersion checked,
   * unknown fields refused (Strict) or dropped with a warning. Returns the decoded copy.
   */
  decode(rt: ResourceType, request: unknown, opts: WriteOptions = {}): Record<string, any> {
    if (!isObject(request)) throw badRequest('the request body must be a JSON object');
    this.checkKind(rt, request);
    return decodeFields(rt, request, opts);
  }

  delete(rt: ResourceType, ns: string | undefined, name: string, opts: DeleteOptions = {}): { object: KObject; removed: boolean } {
    const old = this.get(rt, ns, name);
    const pre = opts.preconditions ?? {};
    if (pre.uid && pre.uid !== old.metadata.uid) throw conflict(rt, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`);
    if (pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(rt, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`);
    }
    const policy: Propagation = opts.propagationPolicy ?? (opts.orphanDependents === true ? 'Orphan' : opts.orphanDependents === false ? 'Background' : rt.defaultPropagation);
    if (opts.dryRun) return { object: old, removed: false };
    const extra = this.hooks.flatMap((h) => h.deletionFinalizers?.(rt, old, policy) ?? []);
    const finalizers = [...(old.metadata.finalizers ?? [])];
    for (const f of extra) if (!finalizers.includes(f)) finalizers.push(f);
    const next: KObject = { ...old, metadata: { ...old.metadata, finalizers } };
    if (!finalizers.length) delete next.metadata.finalizers;
    if (rt.storageKey === '/namespaces') next.status = { ...(old.status ?? {}), phase: 'Terminating' };
    if (pendingFinalizers(rt, next) === 0) return { object: this.remove(rt, old), removed: true };
    const starting = !old.metadata.deletionTimestamp;
    if (starting) {
      next.metadata.deletionTimestamp = now();
      next.metadata.deletionGracePeriodSeconds = 0;
    }
    const stored = deepEqual(next, old) ? old : this.commit(rt, 'MODIFIED', next, old);
    if (starting || extra.length) for (const h of this.hooks) h.deleting?.(rt, stored, policy);
    return { object: stored, removed: false };
  }

  /** Remove an object now (finalizers done), publishing DELETED. */
  remove(rt: ResourceType, obj: KObject): KObject {
    const current = this.bucket(rt).get(objKey(obj.metadata.namespace, obj.metadata.name));
    if (!current) return obj;
    return this.commit(rt, 'DELETED', { ...current, metadata: { ...current.metadata } }, current);
  }

  /** Internal write used by controllers (gc, kubelet): replace `old` with `next` under the normal rules. */
  write(rt: ResourceType, old: KObject, next: KObject, opts: WriteOptions = {}): KObject {
    const admitted = this.admit(rt, next, old);
    const oldFin: string[] = old.metadata.finalizers ?? [];
    const newFin: string[] = admitted.metadata.finalizers ?? [];
    if (old.metadata.deletionTimestamp && newFin.some((f) => !oldFin.includes(f))) {
      throw invalid(rt, old.metadata.name, [cause('FieldValueForbidden', 'metadata.finalizers', 'Forbidden: no new finalizers can be added if the object is being deleted')]);
    }
    if (rt.generation && !sameSpec(rt, old, admitted)) admitted.metadata.generation = (old.metadata.generation ?? 0) + 1;
    const comparable = { ...admitted, metadata: { ...admitted.metadata, resourceVersion: old.metadata.resourceVersion } };
    if (deepEqual(comparable, old)) return old;
    if (opts.dryRun) return comparable;
    if (old.metadata.deletionTimestamp && pendingFinalizers(rt, admitted) === 0) return this.commit(rt, 'DELETED', admitted, old);
    return this.commit(rt, 'MODIFIED', admitted, old);
  }

  private checkKind(rt: ResourceType, body: Record<string, any>): void {
    if (body.kind !== undefined && body.kind !== rt.kind) badKind(rt, body.kind);
    if (body.apiVersion !== undefined && body.apiVersion !== rt.apiVersion && !(this.registry.byKind(body.apiVersion, rt.kind)?.storageKey === rt.storageKey)) {
      throw badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${rt.apiVersion})`);
    }
  }

  /** Schema pruning/defaulting/validation for custom resources, metadata rules, then hooks. */
  private admit(rt: ResourceType, candidate: KObject, old: KObject | undefined): KObject {
    // A private deep copy (plain JSON: JSON round-trip is faster than structuredClone here).
    const next: KObject = JSON.parse(JSON.stringify(candidate));
    if (!isObject(next.metadata)) next.metadata = {};
    const name = String(next.metadata.name ?? '');
    if (rt.schema) {
      rt.schema.prepare(next);
      const causes = rt.schema.validate(next);
      if (causes.length) throw invalid(rt, name, causes);
    }
    const causes = metadataCauses(rt, next);
    if (causes.length) throw invalid(rt, name, causes);
    for (const h of this.hooks) h.admit?.(rt, next, old);
    return next;
  }

  private commit(rt: ResourceType, type: WatchEventType, next: KObject, old: KObject | undefined): KObject {
    const rv = ++this.rv;
    const obj: KObject = { ...next, metadata: { ...next.metadata, resourceVersion: String(rv) } };
    if (!obj.metadata.finalizers?.length) delete obj.metadata.finalizers;
    const key = objKey(obj.metadata.namespace, obj.metadata.name);
    const bucket = this.bucket(rt);
    if (old) this.unindex(old);
    if (type === 'DELETED') bucket.delete(key);
    else {
      bucket.set(key, obj);
      this.index(obj, rt.storageKey);
    }
    this.hub.publish(rt.storageKey, { type, rv, object: obj, old });
    const ev: StoreEvent = { type, rt, object: obj, old };
    for (const h of this.hooks) h.committed?.(ev);
    for (const fn of this.listeners) fn(ev);
    return obj;
  }

  private index(obj: KObject, storageKey: string): void {
    const md = obj.metadata;
    this.byUid.set(md.uid, { storageKey, key: objKey(md.namespace, md.name) });
    for (const ref of md.ownerReferences ?? []) {
      let set = this.dependents.get(ref.uid);
      if (!set) this.dependents.set(ref.uid, (set = new Set()));
      set.add(md.uid);
    }
    if (md.namespace) this.nsCounts.set(md.namespace, (this.nsCounts.get(md.namespace) ?? 0) + 1);
  }

  private unindex(obj: KObject): void {
    const md = obj.metadata;
    this.byUid.delete(md.uid);
    for (const ref of md.ownerReferences ?? []) {
      const set = this.dependents.get(ref.uid);
      set?.delete(md.uid);
      if (set?.size === 0) this.dependents.delete(ref.uid);
    }
    if (md.namespace) this.nsCounts.set(md.namespace, (this.nsCounts.get(md.namespace) ?? 1) - 1);
  }

  /** Drop every object of a storage bucket without events (CRD removal after cleanup). */
  dropBucket(storageKey: string): void {
    const b = this.buckets.get(storageKey);
    if (b) for (const obj of b.values()) this.unindex(obj);
    this.buckets.delete(storageKey);
  }
}

/**
 * Decoding of a request body: fields its schema does not declare are refused under
 * fieldValidation=Strict (kubectl's default since 1.27), else dropped with a warning.
 */
function decodeFields(rt: ResourceType, body: Record<string, any>, opts: WriteOptions): Record<string, any> {
  const node = nodeFor(rt);
  if (!node) return body;
  const copy = structuredClone(body);
  const unknown = unknownFields(copy, node, true);
  if (!unknown.length) return body;
  if (opts.fieldValidation === 'Strict') throw badRequest(strictDecodingMessage(rt, unknown));
  if (opts.fieldValidation !== 'Ignore') opts.warnings?.push(...unknown.map((u) => `unknown field "${u.path}"`));
  return copy;
}

/** Server-side apply converts the applied configuration to its typed schema: an undeclared field fails it. */
function checkApplyFields(rt: ResourceType, patch: unknown): void {
  const node = nodeFor(rt);
  if (!node || !isObject(patch)) return;
  const unknown = unknownFields(patch, node);
  if (unknown.length) throw new ApiError(500, 'InternalError', typedPatchMessage(rt, unknown));
}

function badKind(rt: ResourceType, kind: unknown): never {
  throw badRequest(`the kind in the data (${String(kind)}) does not match the expected kind (${rt.kind})`);
}

/** Server-owned metadata survives PUT; client-owned fields come from the request. */
function carryMetadata(body: Record<string, any>, old: Record<string, any>): Record<string, any> {
  const md: Record<string, any> = { ...body };
  for (const k of ['name', 'namespace', 'uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation']) {
    if (old[k] === undefined) delete md[k];
    else md[k] = old[k];
  }
  delete md.managedFields;
  delete md.selfLink;
  return md;
}

/** True when nothing but metadata (and status, for types with a status subresource) differs. */
function sameSpec(rt: ResourceType, a: KObject, b: KObject): boolean {
  const strip = (o: KObject) => {
    const { metadata: _m, status, apiVersion: _a, kind: _k, ...rest } = o;
    return rt.statusSubresource ? rest : { ...rest, status };
  };
  return deepEqual(strip(a), strip(b));
}

/** What the real server's create strategies set (namespace phase, pod Pending, ...). */
function initialState(rt: ResourceType, obj: KObject): void {
  switch (rt.storageKey) {
    case '/namespaces':
      obj.spec = { finalizers: [NAMESPACE_FINALIZER], ...(obj.spec ?? {}) };
      obj.status = { phase: 'Active' };
      obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'kubernetes.io/metadata.name': obj.metadata.name };
      break;
    case '/pods':
      obj.status = { phase: 'Pending', qosClass: 'BestEffort' };
      break;
    case '/persistentvolumeclaims':
      obj.status = { phase: 'Pending' };
      break;
    case '/persistentvolumes':
      obj.status = { phase: 'Available' };
      break;
    case '/services':
      obj.spec = { type: 'ClusterIP', ...(obj.spec ?? {}) };
      obj.status = { loadBalancer: {} };
      break;
  }
}
