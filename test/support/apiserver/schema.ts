import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { schemaNode } from './fields.js';
import type { CompiledSchema, FieldCause, KObject } from './types.js';

/**
 * CRD structural schemas: pruning, defaulting and validation the way kube-apiserver applies them
 * (prune unknown fields -> drop non-nullable nulls -> apply `default`s -> validate). CEL rules
 * (x-kubernetes-validations) are not evaluated.
 */

type Schema = Record<string, any>;

const isObject = (v: unknown): v is Record<string, any> => v !== null && typeof v === 'object' && !Array.isArray(v);

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, verbose: true });

/** Rewrite the Kubernetes OpenAPI dialect into plain JSON Schema ajv understands. */
export function toJsonSchema(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(toJsonSchema);
  if (!isObject(s)) return s;
  const out: Schema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k.startsWith('x-kubernetes-') || k === 'default' || k === 'example' || k === 'externalDocs') continue;
    out[k] = k === 'properties' || k === 'patternProperties' ? Object.fromEntries(Object.entries(v as Schema).map(([pk, pv]) => [pk, toJsonSchema(pv)])) : toJsonSchema(v);
  }
  // The server validates an int-or-string node as type [integer, string] (its anyOf only restates
  // that), so a wrong type reads "must be of type integer,string".
  if (s['x-kubernetes-int-or-string']) {
    out.type = ['integer', 'string'];
    if (Array.isArray(out.anyOf) && JSON.stringify(out.anyOf) === '[{"type":"integer"},{"type":"string"}]') delete out.anyOf;
  }
  // ajv refuses `nullable` without `type`; an untyped schema already admits null.
  if (out.nullable && !out.type) delete out.nullable;
  return out;
}

const ROOT_KEEP = new Set(['apiVersion', 'kind', 'metadata']);

function prune(schema: Schema | undefined, value: unknown, keep?: Set<string>): void {
  if (!schema) return;
  if (Array.isArray(value)) {
    if (isObject(schema.items)) for (const item of value) prune(schema.items, item);
    return;
  }
  if (!isObject(value)) return;
  const props: Schema = schema.properties ?? {};
  const additional = schema.additionalProperties;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  const embedded = schema['x-kubernetes-embedded-resource'] === true;
  for (const key of Object.keys(value)) {
    if (key in props) prune(props[key], value[key]);
    else if (isObject(additional)) prune(additional, value[key]);
    else if (additional === true || preserve) continue;
    else if (keep?.has(key) || (embedded && ROOT_KEEP.has(key))) continue;
    else delete value[key];
  }
}

function defaults(schema: Schema | undefined, value: unknown): void {
  if (!schema) return;
  if (Array.isArray(value)) {
    if (isObject(schema.items)) for (const item of value) defaults(schema.items, item);
    return;
  }
  if (!isObject(value)) return;
  const props: Schema = schema.properties ?? {};
  for (const [key, sub] of Object.entries(props)) {
    if (value[key] === null && !sub.nullable) delete value[key];
    if (value[key] === undefined && sub.default !== undefined) value[key] = structuredClone(sub.default);
    if (value[key] !== undefined) defaults(sub, value[key]);
  }
  if (isObject(schema.additionalProperties)) {
    for (const key of Object.keys(value)) if (!(key in props)) defaults(schema.additionalProperties, value[key]);
  }
}

/** `/spec/mounts/0/name` -> `spec.mounts[0].name` (the field path style of Kubernetes causes). */
function fieldPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out ? `.${part}` : part;
  }
  return out;
}

function render(v: unknown): string {
  return typeof v === 'string' ? `"${v}"` : JSON.stringify(v);
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** kube-openapi's wording for the common constraint keywords (ajv's otherwise). */
function kubeMessage(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'minimum':
      return `should be greater than or equal to ${String(p.limit)}`;
    case 'maximum':
      return `should be less than or equal to ${String(p.limit)}`;
    case 'exclusiveMinimum':
      return `should be greater than ${String(p.limit)}`;
    case 'exclusiveMaximum':
      return `should be less than ${String(p.limit)}`;
    case 'minLength':
      return `should be at least ${String(p.limit)} chars long`;
    case 'maxLength':
      return `may not be longer than ${String(p.limit)}`;
    case 'pattern':
      return `should match '${String(p.pattern)}'`;
    case 'minItems':
      return `should have at least ${String(p.limit)} items`;
    case 'maxItems':
      return `must have at most ${String(p.limit)} items`;
    default:
      return e.message ?? 'is invalid';
  }
}

function toCause(e: ErrorObject): FieldCause {
  const field = fieldPath(e.instancePath) || '<root>';
  switch (e.keyword) {
    case 'required': {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      return { reason: 'FieldValueRequired', field: field === '<root>' ? missing : `${field}.${missing}`, message: 'Required value' };
    }
    case 'type': {
      const t = jsonType(e.data);
      const want = (e.params as { type: string | string[] }).type;
      return { reason: 'FieldValueTypeInvalid', field, message: `Invalid value: "${t}": ${field} in body must be of type ${Array.isArray(want) ? want.join(',') : want}: "${t}"` };
    }
    case 'enum': {
      const allowed = ((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map(render).join(', ');
      return { reason: 'FieldValueNotSupported', field, message: `Unsupported value: ${render(e.data)}: supported values: ${allowed}` };
    }
    default:
      return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${render(e.data)}: ${field} in body ${kubeMessage(e)}` };
  }
}

/** Compile one CRD version's openAPIV3Schema. Throws if ajv cannot compile it. */
export function compileSchema(openAPIV3Schema: Schema): CompiledSchema {
  const validateFn: ValidateFunction = ajv.compile(toJsonSchema(openAPIV3Schema) as Schema);
  return {
    fields: schemaNode(openAPIV3Schema, true),
    prepare(obj: KObject): void {
      prune(openAPIV3Schema, obj, ROOT_KEEP);
      defaults(openAPIV3Schema, obj);
    },
    validate(obj: KObject): FieldCause[] {
      // metadata is validated by the server's own rules, not by the CRD schema.
      const { metadata: _metadata, ...rest } = obj;
      if (validateFn(rest)) return [];
      const causes = (validateFn.errors ?? []).filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf').map(toCause);
      const seen = new Set<string>();
      return causes.filter((c) => {
        const key = `${c.field}|${c.message}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
    },
  };
}
