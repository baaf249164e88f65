import * as k8s from '@kubernetes/client-node';
import type { KObject, ResourceType } from './types.js';
import { isObject } from './util.js';

/**
 * Which fields of an object its schema declares, the way kube-apiserver's decoders see them:
 * built-in kinds by their Go types (here: @kubernetes/client-node's generated models, which list
 * every JSON field of every type), custom resources by their CRD's structural schema. Used for
 * strict field validation (`fieldValidation=Strict`: "unknown field ...") and server-side apply
 * ("field not declared in schema"), and to drop unknown fields otherwise, as a real server does.
 */

/** A schema node: `any` accepts everything below it. */
export interface FieldNode {
  any?: boolean;
  /** Declared fields (lazily built). */
  fields?: () => Map<string, FieldNode>;
  /** Map values (additionalProperties / `{ [key: string]: T }`). */
  values?: FieldNode;
  items?: FieldNode;
  /** Unknown fields are kept (x-kubernetes-preserve-unknown-fields). */
  preserve?: boolean;
  /** Keys of an associative list (x-kubernetes-list-map-keys), for server-side apply paths. */
  listKeys?: string[];
}

export interface UnknownField {
  /** Decoder style, as in "strict decoding error: unknown field \"spec.mounts[0].foo\"". */
  path: string;
  /** structured-merge-diff style, as in ".spec.versions[name=\"v1\"].foo: field not declared in schema". */
  smdPath: string;
}

const ANY: FieldNode = { any: true };
const SCALAR: FieldNode = {};

// ---- built-in kinds, from the client's generated models ----

type Model = { getAttributeTypeMap(): { baseName: string; type: string }[] };
const models = k8s as unknown as Record<string, Model | undefined>;

/** Associative lists of the built-in types (+listType=map in the Go types), by field name. */
const BUILTIN_LIST_KEYS: Record<string, string[]> = {
  containers: ['name'],
  initContainers: ['name'],
  ephemeralContainers: ['name'],
  env: ['name'],
  volumes: ['name'],
  imagePullSecrets: ['name'],
  volumeMounts: ['mountPath'],
  volumeDevices: ['devicePath'],
  conditions: ['type'],
  versions: ['name'],
  ports: ['containerPort', 'protocol'],
};

const modelCache = new Map<string, FieldNode>();

function fromType(type: string, fieldName?: string): FieldNode {
  const t = type.trim();
  if (['string', 'number', 'boolean', 'Date', 'IntOrString'].includes(t)) return SCALAR;
  if (t === 'any' || t === 'object') return ANY;
  const arr = /^Array<(.+)>$/.exec(t);
  if (arr) return { items: fromType(arr[1]), listKeys: fieldName ? BUILTIN_LIST_KEYS[fieldName] : undefined };
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(t);
  if (map) return { values: fromType(map[1]) };
  return modelNode(t);
}

function modelNode(name: string): FieldNode {
  const cached = modelCache.get(name);
  if (cached) return cached;
  const model = models[name];
  if (!model?.getAttributeTypeMap) return ANY;
  let fields: Map<string, FieldNode> | undefined;
  const node: FieldNode = {
    fields: () => {
      if (!fields) {
        fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, fromType(a.type, a.baseName)]));
        // JSONSchemaProps.items and .additionalProperties are JSONSchemaProps (or a bool/array the
        // client types as `any`): check them as schemas so a bogus key there is caught too.
        if (name === 'V1JSONSchemaProps') {
          fields.set('items', node);
          fields.set('additionalProperties', node);
        }
      }
      return fields;
    },
  };
  modelCache.set(name, node);
  return node;
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** The model of a built-in kind: V1Pod, V1StatefulSet, CoreV1Event, EventsV1Event, ... */
export function builtinNode(rt: ResourceType): FieldNode | undefined {
  const version = cap(rt.version);
  const group = rt.group ? cap(rt.group.split('.')[0]) : 'Core';
  for (const name of [`${group}${version}${rt.kind}`, `${version}${rt.kind}`]) if (models[name]?.getAttributeTypeMap) return modelNode(name);
  return undefined;
}

// ---- custom resources, from the CRD's schema ----

const OBJECT_META = (): FieldNode => modelNode('V1ObjectMeta');

export function schemaNode(s: Record<string, any> | undefined, root = false): FieldNode {
  if (!isObject(s)) return ANY;
  if (s['x-kubernetes-int-or-string'] === true) return SCALAR;
  const embedded = s['x-kubernetes-embedded-resource'] === true;
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  const props: Record<string, any> = isObject(s.properties) ? s.properties : {};
  const node: FieldNode = { preserve };
  if (s.type === 'array' || s.items !== undefined) {
    node.items = schemaNode(isObject(s.items) ? s.items : undefined);
    if (s['x-kubernetes-list-type'] === 'map' && Array.isArray(s['x-kubernetes-list-map-keys'])) node.listKeys = s['x-kubernetes-list-map-keys'];
  }
  if (s.additionalProperties === true) node.values = ANY;
  else if (isObject(s.additionalProperties)) node.values = schemaNode(s.additionalProperties);
  let fields: Map<string, FieldNode> | undefined;
  if (s.type === 'object' || Object.keys(props).length || root || embedded) {
    node.fields = () => {
      if (!fields) {
        fields = new Map(Object.entries(props).map(([k, v]) => [k, schemaNode(v)]));
        if (root || embedded) {
          fields.set('apiVersion', SCALAR);
          fields.set('kind', SCALAR);
          fields.set('metadata', OBJECT_META());
        }
      }
      return fields;
    };
  }
  if (node.fields || node.items || node.values) return node;
  // A typed scalar; an untyped node only exists under preserve-unknown-fields.
  return s.type === undefined || preserve ? ANY : SCALAR;
}

// ---- the walk ----

function smdKey(item: unknown, index: number, keys: string[] | undefined): string {
  if (keys && isObject(item) && keys.every((k) => item[k] !== undefined)) return `[${keys.map((k) => `${k}=${JSON.stringify(item[k])}`).join(',')}]`;
  return `[${index}]`;
}

/** Unknown fields of `value` under `node`; with `drop`, also removes them (in place). */
export function unknownFields(value: unknown, node: FieldNode, drop = false): UnknownField[] {
  const out: UnknownField[] = [];
  const walk = (v: unknown, n: FieldNode, path: string, smd: string) => {
    if (n.any) return;
    if (Array.isArray(v)) {
      if (n.items) v.forEach((item, i) => walk(item, n.items!, `${path}[${i}]`, `${smd}${smdKey(item, i, n.listKeys)}`));
      return;
    }
    if (!isObject(v)) return;
    const fields = n.fields?.();
    for (const key of Object.keys(v)) {
      const child = fields?.get(key) ?? n.values;
      const p = path ? `${path}.${key}` : key;
      if (child) walk(v[key], child, p, `${smd}.${key}`);
      else if (!n.preserve) {
        out.push({ path: p, smdPath: `${smd}.${key}` });
        if (drop) delete v[key];
      }
    }
  };
  walk(value, node, '', '');
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The schema node of a resource type: its CRD schema or its built-in model (undefined: unknown kind). */
export function nodeFor(rt: ResourceType): FieldNode | undefined {
  return rt.schema?.fields ?? builtinNode(rt);
}

export function strictDecodingMessage(rt: ResourceType, unknown: UnknownField[]): string {
  return `${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: strict decoding error: ${unknown.map((u) => `unknown field "${u.path}"`).join(', ')}`;
}

export function typedPatchMessage(rt: ResourceType, unknown: UnknownField[]): string {
  const errs = unknown.map((u) => `${u.smdPath}: field not declared in schema`);
  return `failed to create typed patch object (${rt.group}/${rt.version}, Kind=${rt.kind}): ${errs.length === 1 ? errs[0] : `errors:\n  ${errs.join('\n  ')}`}`;
}

export type { KObject };
