import { cause, invalid } from './errors.js';
import { resourceType, type Registry } from './registry.js';
import { compileSchema, toJsonSchema } from './schema.js';
import { schemaCauses } from './structural.js';
import type { Store } from './store.js';
import type { CompiledSchema, FieldCause, KObject, ResourceType } from './types.js';
import { deepEqual, now } from './util.js';

const CRD_KEY = 'apiextensions.k8s.io/customresourcedefinitions';
const CLEANUP = 'customresourcecleanup.apiextensions.k8s.io';

/** Kubernetes version priority: v1 > v1beta2 > v1beta1 > v1alpha1 > anything else. */
function versionRank(v: string): number[] {
  const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
  if (!m) return [0, 0, 0];
  const stability = m[2] === undefined ? 3 : m[2] === 'beta' ? 2 : 1;
  return [stability, Number(m[1]), Number(m[3] ?? 0)];
}

function compareVersions(a: string, b: string): number {
  const ra = versionRank(a);
  const rb = versionRank(b);
  for (let i = 0; i < 3; i++) if (ra[i] !== rb[i]) return rb[i] - ra[i];
  return a.localeCompare(b);
}

function crdCauses(crd: KObject): FieldCause[] {
  const spec = crd.spec ?? {};
  const causes: FieldCause[] = [];
  if (!spec.group) causes.push(cause('FieldValueRequired', 'spec.group', 'Required value'));
  if (!spec.names?.plural) causes.push(cause('FieldValueRequired', 'spec.names.plural', 'Required value'));
  if (!spec.names?.kind) causes.push(cause('FieldValueRequired', 'spec.names.kind', 'Required value'));
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster') {
    causes.push(cause('FieldValueNotSupported', 'spec.scope', `Unsupported value: "${String(spec.scope ?? '')}": supported values: "Cluster", "Namespaced"`));
  }
  if (spec.group && spec.names?.plural && crd.metadata.name !== `${spec.names.plural}.${spec.group}`) {
    causes.push(cause('FieldValueInvalid', 'metadata.name', `Invalid value: "${String(crd.metadata.name)}": must be spec.names.plural+"."+spec.group`));
  }
  const versions: any[] = Array.isArray(spec.versions) ? spec.versions : [];
  if (!versions.length) causes.push(cause('FieldValueInvalid', 'spec.versions', 'Invalid value: null: must have exactly one version marked as storage version'));
  else if (versions.filter((v) => v?.storage === true).length !== 1) {
    causes.push(cause('FieldValueInvalid', 'spec.versions', 'Invalid value: must have exactly one version marked as storage version'));
  }
  versions.forEach((v, i) => {
    if (!v?.name) causes.push(cause('FieldValueRequired', `spec.versions[${i}].name`, 'Required value'));
    if (!v?.schema?.openAPIV3Schema) causes.push(cause('FieldValueRequired', `spec.versions[${i}].schema.openAPIV3Schema`, 'Required value: schemas are required'));
  });
  if (spec.preserveUnknownFields === true) causes.push(cause('FieldValueInvalid', 'spec.preserveUnknownFields', 'Invalid value: true: must be false in order to use defaults in the schema'));
  // The server's internal form hoists a schema shared by every version to spec.validation, and
  // reports its errors there (what `kubectl apply` of a one-version CRD shows).
  const schemas = versions.map((v) => v?.schema?.openAPIV3Schema);
  if (schemas.length && schemas.every((s) => s && deepEqual(s, schemas[0]))) causes.push(...schemaCauses(schemas[0], 'spec.validation.openAPIV3Schema', toJsonSchema));
  else schemas.forEach((s, i) => s && causes.push(...schemaCauses(s, `spec.versions[${i}].schema.openAPIV3Schema`, toJsonSchema)));
  return causes;
}

/**
 * CustomResourceDefinitions: validated and compiled when written, their versions served as soon
 * as they are stored (status says Established immediately), their objects removed when the CRD is.
 */
export class CrdController {
  private readonly installed = new Map<string, ResourceType[]>();
  private readonly compiled = new Map<string, Map<string, CompiledSchema>>();

  constructor(
    private readonly store: Store,
    private readonly registry: Registry,
  ) {
    store.use({
      admit: (rt, next) => {
        if (rt.storageKey === CRD_KEY) this.admitCrd(rt, next);
      },
      deletionFinalizers: (rt, obj) => (rt.storageKey === CRD_KEY && this.instances(obj.metadata.name).length ? [CLEANUP] : []),
      deleting: (rt, obj) => {
        if (rt.storageKey !== CRD_KEY) return;
        setImmediate(() => {
          for (const { rt: crRt, obj: cr } of this.instances(obj.metadata.name)) {
            if (cr.metadata.deletionTimestamp) continue;
            try {
              this.store.delete(crRt, cr.metadata.namespace, cr.metadata.name);
            } catch {
              // already gone
            }
          }
        });
      },
      committed: (ev) => {
        if (ev.rt.storageKey === CRD_KEY) {
          if (ev.type === 'DELETED') this.uninstall(ev.object.metadata.name);
          else if (!ev.object.metadata.deletionTimestamp) this.install(ev.object);
        } else if (ev.type === 'DELETED' && ev.rt.crdName) this.finishCleanup(ev.rt.crdName);
      },
    });
  }

  private admitCrd(rt: ResourceType, crd: KObject): void {
    const causes = crdCauses(crd);
    const schemas = new Map<string, CompiledSchema>();
    if (!causes.length) {
      crd.spec.versions.forEach((v: any, i: number) => {
        try {
          schemas.set(v.name, compileSchema(v.schema.openAPIV3Schema));
        } catch (err) {
          causes.push(cause('FieldValueInvalid', `spec.versions[${i}].schema.openAPIV3Schema`, `Invalid value: ${(err as Error).message}`));
        }
      });
    }
    if (causes.length) throw invalid(rt, String(crd.metadata.name ?? ''), causes);
    this.compiled.set(crd.metadata.name, schemas);
    const names = crd.spec.names;
    const acceptedNames = { ...names, singular: names.singular ?? names.kind.toLowerCase(), listKind: names.listKind ?? `${names.kind}List` };
    crd.spec.names = acceptedNames;
    const storage = crd.spec.versions.find((v: any) => v.storage).name;
    const stored: string[] = crd.status?.storedVersions ?? [];
    const at = now();
    crd.status = {
      acceptedNames,
      conditions: [
        { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found', lastTransitionTime: at },
        { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted', lastTransitionTime: at },
      ],
      storedVersions: stored.includes(storage) ? stored : [...stored, storage],
    };
    // Conditions keep their original transition time across updates (no-op writes stay no-ops).
    const old = this.store.tryGet(rt, undefined, crd.metadata.name);
    if (old?.status?.conditions) crd.status.conditions = old.status.conditions;
  }

  private install(crd: KObject): void {
    const name = crd.metadata.name;
    const schemas = this.compiled.get(name) ?? new Map();
    for (const rt of this.installed.get(name) ?? []) this.registry.remove(rt);
    const spec = crd.spec;
    const types: ResourceType[] = [];
    for (const v of spec.versions) {
      if (v.served === false) continue;
      const scale = v.subresources?.scale;
      const rt = resourceType({
        group: spec.group,
        version: v.name,
        plural: spec.names.plural,
        kind: spec.names.kind,
        singular: spec.names.singular,
        namespaced: spec.scope === 'Namespaced',
        shortNames: spec.names.shortNames,
        categories: spec.names.categories,
        status: v.subresources?.status !== undefined,
        scale: scale ? { specReplicasPath: scale.specReplicasPath, statusReplicasPath: scale.statusReplicasPath, labelSelectorPath: scale.labelSelectorPath } : undefined,
        printerColumns: v.additionalPrinterColumns,
      });
      rt.crdName = name;
      rt.schema = schemas.get(v.name);
      this.registry.add(rt);
      types.push(rt);
    }
    this.installed.set(name, types);
    this.registry.setPreferredVersions(spec.group, [...new Set(this.registry.all().filter((r) => r.group === spec.group).map((r) => r.version))].sort(compareVersions));
  }

  private uninstall(name: string): void {
    const types = this.installed.get(name) ?? [];
    for (const rt of types) this.registry.remove(rt);
    if (types[0]) this.store.dropBucket(types[0].storageKey);
    this.installed.delete(name);
    this.compiled.delete(name);
  }

  private instances(crdName: string): { rt: ResourceType; obj: KObject }[] {
    const rt = this.installed.get(crdName)?.[0];
    return rt ? this.store.list(rt).map((obj) => ({ rt, obj })) : [];
  }

  private finishCleanup(crdName: string): void {
    const crdRt = this.registry.lookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!;
    const crd = this.store.tryGet(crdRt, undefined, crdName);
    if (!crd?.metadata.deletionTimestamp || this.instances(crdName).length) return;
    const finalizers = (crd.metadata.finalizers ?? []).filter((f: string) => f !== CLEANUP);
    this.store.write(crdRt, crd, { ...crd, metadata: { ...crd.metadata, finalizers } });
  }
}
