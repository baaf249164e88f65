import { Ajv } from 'ajv';
import { cause } from './errors.js';
import type { FieldCause } from './types.js';
import { deepEqual, isObject } from './util.js';

/**
 * What kube-apiserver checks in a CRD's openAPIV3Schema before it accepts the CRD: the structural
 * schema rules (k8s.io/apiextensions-apiserver pkg/apiserver/schema: invariants and completeness,
 * "Specifying a structural schema" in the Kubernetes docs) and the OpenAPI restrictions of
 * apiextensions validation (uniqueItems, properties vs additionalProperties, $ref, list types,
 * defaults). Field paths and messages are the real server's, so a test can compare them verbatim.
 */

type Schema = Record<string, any>;
type Level = 'root' | 'item' | 'field';

const JUNCTORS = ['allOf', 'anyOf', 'oneOf'] as const;
const TYPES = ['array', 'boolean', 'integer', 'number', 'object', 'string'];

const required = (path: string, detail: string) => cause('FieldValueRequired', path, `Required value: ${detail}`);
const forbidden = (path: string, detail: string) => cause('FieldValueForbidden', path, `Forbidden: ${detail}`);
const invalidValue = (path: string, value: unknown, detail: string) => cause('FieldValueInvalid', path, `Invalid value: ${render(value)}: ${detail}`);

function render(v: unknown): string {
  return typeof v === 'string' ? `"${v}"` : JSON.stringify(v);
}

/** The two shapes beside x-kubernetes-int-or-string that may carry `type` inside a junctor. */
const INT_OR_STRING_ANY_OF = [{ type: 'integer' }, { type: 'string' }];
const isIntOrStringAnyOf = (s: Schema) => Array.isArray(s.anyOf) && deepEqual(s.anyOf, INT_OR_STRING_ANY_OF);
const isIntOrStringAllOf = (s: Schema) => Array.isArray(s.allOf) && isObject(s.allOf[0]) && isIntOrStringAnyOf(s.allOf[0]);

/** Go's regexp (RE2) refuses look-around and back-references, which JavaScript accepts. */
function patternError(pattern: string): string | undefined {
  const perl = /\(\?<?[=!]|\\[1-9]/.exec(pattern);
  if (perl) return `error parsing regexp: invalid or unsupported Perl syntax: \`${perl[0]}\``;
  try {
    new RegExp(pattern, 'u');
  } catch (err) {
    return `error parsing regexp: ${(err as Error).message}`;
  }
  return undefined;
}

function valueValidation(s: Schema, skipAnyOf: boolean, skipFirstAllOfAnyOf: boolean, lvl: Level, path: string, out: FieldCause[]): void {
  if (!skipAnyOf) (Array.isArray(s.anyOf) ? s.anyOf : []).forEach((b: Schema, i: number) => nested(b, false, lvl, `${path}.anyOf[${i}]`, out));
  (Array.isArray(s.allOf) ? s.allOf : []).forEach((b: Schema, i: number) => nested(b, skipFirstAllOfAnyOf && i === 0, lvl, `${path}.allOf[${i}]`, out));
  (Array.isArray(s.oneOf) ? s.oneOf : []).forEach((b: Schema, i: number) => nested(b, false, lvl, `${path}.oneOf[${i}]`, out));
  if (isObject(s.not)) nested(s.not, false, lvl, `${path}.not`, out);
  if (typeof s.pattern === 'string') {
    const err = patternError(s.pattern);
    if (err) out.push(invalidValue(`${path}.pattern`, s.pattern, `must be a valid regular expression, but isn't: ${err}`));
  }
}

/** A schema under allOf/anyOf/oneOf/not: value validations only, no structure of its own. */
function nested(v: Schema, skipAnyOf: boolean, lvl: Level, path: string, out: FieldCause[]): void {
  if (!isObject(v)) return;
  valueValidation(v, skipAnyOf, false, lvl, path, out);
  if (isObject(v.items)) nested(v.items, false, lvl, `${path}.items`, out);
  for (const [k, f] of Object.entries(isObject(v.properties) ? v.properties : {})) nested(f as Schema, false, 'field', `${path}.properties[${k}]`, out);
  if (v.type !== undefined && v.type !== '') out.push(forbidden(`${path}.type`, 'must be empty to be structural'));
  if (v.additionalProperties !== undefined) out.push(forbidden(`${path}.additionalProperties`, 'must be undefined to be structural'));
  if (v.default !== undefined) out.push(forbidden(`${path}.default`, 'must be undefined to be structural'));
  if (v.title) out.push(forbidden(`${path}.title`, 'must be empty to be structural'));
  if (v.description) out.push(forbidden(`${path}.description`, 'must be empty to be structural'));
  if (v.nullable === true) out.push(forbidden(`${path}.nullable`, 'must be false to be structural'));
  if (v['x-kubernetes-preserve-unknown-fields'] === true) out.push(forbidden(`${path}.x-kubernetes-preserve-unknown-fields`, 'must be false to be structural'));
  if (v['x-kubernetes-embedded-resource'] === true) out.push(forbidden(`${path}.x-kubernetes-embedded-resource`, 'must be false to be structural'));
  if (v['x-kubernetes-int-or-string'] === true) out.push(forbidden(`${path}.x-kubernetes-int-or-string`, 'must be false to be structural'));
  if (Array.isArray(v['x-kubernetes-list-map-keys']) && v['x-kubernetes-list-map-keys'].length) out.push(forbidden(`${path}.x-kubernetes-list-map-keys`, 'must be empty to be structural'));
  if (v['x-kubernetes-list-type'] !== undefined) out.push(forbidden(`${path}.x-kubernetes-list-type`, 'must be undefined to be structural'));
  if (v['x-kubernetes-map-type'] !== undefined) out.push(forbidden(`${path}.x-kubernetes-map-type`, 'must be undefined to be structural'));
  if (Array.isArray(v['x-kubernetes-validations']) && v['x-kubernetes-validations'].length) out.push(forbidden(`${path}.x-kubernetes-validations`, 'must be empty to be structural'));
  if (isObject(v.properties) && 'metadata' in v.properties) out.push(forbidden(`${path}.properties[metadata]`, 'must not be specified in a nested context'));
}

/** The structural invariants of one node of the structural part (not under a junctor). */
function invariants(s: Schema, lvl: Level, path: string, out: FieldCause[]): void {
  if (!isObject(s)) return;
  if (s.type === 'array' && s.items === undefined) out.push(required(`${path}.items`, 'must be specified'));
  if (isObject(s.items)) invariants(s.items, 'item', `${path}.items`, out);
  const props: Schema = isObject(s.properties) ? s.properties : {};
  for (const [k, f] of Object.entries(props)) invariants(f as Schema, 'field', `${path}.properties[${k}]`, out);
  if (s.additionalProperties !== undefined) {
    if (lvl === 'root') out.push(forbidden(`${path}.additionalProperties`, 'must not be used at the root'));
    if (isObject(s.additionalProperties)) invariants(s.additionalProperties, 'field', `${path}.additionalProperties`, out);
  }
  const intOrString = s['x-kubernetes-int-or-string'] === true;
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  const embedded = s['x-kubernetes-embedded-resource'] === true;
  if (intOrString && preserve) out.push(invalidValue(`${path}.x-kubernetes-preserve-unknown-fields`, true, 'must be false if x-kubernetes-int-or-string is true'));
  if (intOrString && embedded) out.push(invalidValue(`${path}.x-kubernetes-embedded-resource`, true, 'must be false if x-kubernetes-int-or-string is true'));
  valueValidation(s, isIntOrStringAnyOf(s), isIntOrStringAllOf(s), lvl, path, out);

  const type = typeof s.type === 'string' ? s.type : '';
  if (embedded && type !== 'object') {
    if (!type) out.push(required(`${path}.type`, 'must be object if x-kubernetes-embedded-resource is true'));
    else out.push(invalidValue(`${path}.type`, type, 'must be object if x-kubernetes-embedded-resource is true'));
  } else if (!type && !intOrString && !preserve) {
    const where = lvl === 'root' ? 'at the root' : lvl === 'item' ? 'for specified array items' : 'for specified object fields';
    out.push(required(`${path}.type`, `must not be empty ${where}`));
  }
  if (embedded && s.additionalProperties !== undefined) out.push(forbidden(`${path}.additionalProperties`, 'must not be used if x-kubernetes-embedded-resource is set'));
  if (lvl === 'root' && type && type !== 'object') out.push(invalidValue(`${path}.type`, type, 'must be object at the root'));

  const checkMetadata = lvl === 'root' || embedded;
  if (checkMetadata && isObject(props.kind) && props.kind.type !== 'string') out.push(invalidValue(`${path}.properties[kind].type`, props.kind.type ?? '', 'must be string'));
  if (checkMetadata && isObject(props.apiVersion) && props.apiVersion.type !== 'string') out.push(invalidValue(`${path}.properties[apiVersion].type`, props.apiVersion.type ?? '', 'must be string'));
  if (checkMetadata && isObject(props.metadata) && props.metadata.type !== 'object') out.push(invalidValue(`${path}.properties[metadata].type`, props.metadata.type ?? '', 'must be object'));
  if (lvl === 'root' && isObject(props.metadata)) {
    // Only restrictions of name and generateName: anything else would change ObjectMeta's meaning.
    const { type: _t, default: _d, properties, ...rest } = props.metadata;
    const extra = Object.keys(isObject(properties) ? properties : {}).filter((k) => k !== 'name' && k !== 'generateName');
    if (extra.length || Object.keys(rest).length) out.push(forbidden(`${path}.properties[metadata]`, 'must not specify anything other than name and generateName, but metadata is implicitly specified'));
  }
  if (embedded && !preserve && !Object.keys(props).length) out.push(required(`${path}.properties`, 'must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields'));
}

/** Every property or item named under a junctor must also exist in the structural part. */
function completeness(v: Schema, s: Schema | undefined, sPath: string, vPath: string, out: FieldCause[]): void {
  const branches: [Schema, string][] = [];
  if (isObject(v.not)) branches.push([v.not, `${vPath}.not`]);
  for (const j of JUNCTORS) (Array.isArray(v[j]) ? v[j] : []).forEach((b: Schema, i: number) => branches.push([b, `${vPath}.${j}[${i}]`]));
  for (const [b, bPath] of branches) nestedCompleteness(b, s, sPath, bPath, out);
}

function nestedCompleteness(v: Schema, s: Schema | undefined, sPath: string, vPath: string, out: FieldCause[]): void {
  if (!isObject(v)) return;
  if (!s) {
    out.push(required(sPath, `because it is defined in ${vPath}`));
    return;
  }
  completeness(v, s, sPath, vPath, out);
  if (isObject(v.items)) nestedCompleteness(v.items, isObject(s.items) ? s.items : undefined, `${sPath}.items`, `${vPath}.items`, out);
  const sProps: Schema = isObject(s.properties) ? s.properties : {};
  for (const [k, f] of Object.entries(isObject(v.properties) ? v.properties : {})) {
    if (k in sProps) nestedCompleteness(f as Schema, sProps[k], `${sPath}.properties[${k}]`, `${vPath}.properties[${k}]`, out);
    else out.push(required(`${sPath}.properties[${k}]`, `because it is defined in ${vPath}.properties[${k}]`));
  }
}

/** Completeness at every node of the structural part (the documented rule). */
function completenessEverywhere(s: Schema, path: string, out: FieldCause[]): void {
  if (!isObject(s)) return;
  completeness(s, s, path, path, out);
  if (isObject(s.items)) completenessEverywhere(s.items, `${path}.items`, out);
  for (const [k, f] of Object.entries(isObject(s.properties) ? s.properties : {})) completenessEverywhere(f as Schema, `${path}.properties[${k}]`, out);
  if (isObject(s.additionalProperties)) completenessEverywhere(s.additionalProperties, `${path}.additionalProperties`, out);
}

const defaultsAjv = new Ajv({ allErrors: true, strict: false, validateFormats: false });

/** OpenAPI restrictions apiextensions validation puts on every schema node, junctors included. */
function openAPIRules(s: Schema, path: string, out: FieldCause[], toJsonSchema: (s: Schema) => unknown): void {
  if (!isObject(s)) return;
  if (s.type !== undefined && !TYPES.includes(s.type)) {
    out.push(cause('FieldValueNotSupported', `${path}.type`, `Unsupported value: ${render(s.type)}: supported values: ${TYPES.map((t) => `"${t}"`).join(', ')}`));
  }
  if (s.uniqueItems === true) out.push(forbidden(`${path}.uniqueItems`, 'uniqueItems cannot be set to true since the runtime complexity becomes quadratic'));
  if (s.additionalProperties !== undefined && isObject(s.properties) && Object.keys(s.properties).length && s.additionalProperties !== true) {
    out.push(forbidden(`${path}.additionalProperties`, 'additionalProperties and properties are mutual exclusive'));
  }
  for (const k of ['$ref', '$schema', 'id', 'definitions', 'dependencies', 'patternProperties', 'additionalItems']) {
    if (s[k] !== undefined) out.push(forbidden(`${path}.${k}`, `${k} is not supported`));
  }
  if (s['x-kubernetes-preserve-unknown-fields'] === false) out.push(invalidValue(`${path}.x-kubernetes-preserve-unknown-fields`, false, 'must be true or undefined'));
  const listType = s['x-kubernetes-list-type'];
  const mapKeys = s['x-kubernetes-list-map-keys'];
  if (listType !== undefined) {
    if (!['atomic', 'set', 'map'].includes(listType)) out.push(cause('FieldValueNotSupported', `${path}.x-kubernetes-list-type`, `Unsupported value: ${render(listType)}: supported values: "atomic", "set", "map"`));
    else if (s.type !== 'array') out.push(invalidValue(`${path}.type`, s.type ?? '', 'must be array if x-kubernetes-list-type is specified'));
  }
  if (mapKeys !== undefined && listType !== 'map') out.push(forbidden(`${path}.x-kubernetes-list-map-keys`, 'must not be specified if x-kubernetes-list-type is not map'));
  if (listType === 'map') {
    const items: Schema = isObject(s.items) ? s.items : {};
    if (!Array.isArray(mapKeys) || !mapKeys.length) out.push(required(`${path}.x-kubernetes-list-map-keys`, 'must not be empty if x-kubernetes-list-type is map'));
    if (items.type !== 'object') out.push(invalidValue(`${path}.items.type`, items.type ?? '', 'must be object if parent array\'s x-kubernetes-list-type is map'));
    for (const [i, key] of (Array.isArray(mapKeys) ? mapKeys : []).entries()) {
      const prop = isObject(items.properties) ? items.properties[key] : undefined;
      if (!isObject(prop)) out.push(required(`${path}.items.properties[${String(key)}]`, `must have all properties listed in x-kubernetes-list-map-keys, key ${i}`));
      else if (!['string', 'integer', 'number', 'boolean'].includes(prop.type)) out.push(invalidValue(`${path}.items.properties[${String(key)}].type`, prop.type ?? '', 'must be a scalar type if parent array\'s x-kubernetes-list-type is map'));
      else if (!(Array.isArray(items.required) && items.required.includes(key)) && prop.default === undefined) {
        out.push(required(`${path}.items.properties[${String(key)}]`, 'all map keys must be required or have a default value'));
      }
    }
  }
  if (s.default !== undefined) {
    const validate = defaultsAjv.compile(toJsonSchema(s) as Schema);
    if (!validate(s.default)) out.push(invalidValue(`${path}.default`, s.default, (validate.errors ?? []).map((e) => `${e.instancePath || '<value>'} ${e.message ?? ''}`).join(', ')));
  }
  if (isObject(s.items)) openAPIRules(s.items, `${path}.items`, out, toJsonSchema);
  if (isObject(s.additionalProperties)) openAPIRules(s.additionalProperties, `${path}.additionalProperties`, out, toJsonSchema);
  if (isObject(s.not)) openAPIRules(s.not, `${path}.not`, out, toJsonSchema);
  for (const [k, f] of Object.entries(isObject(s.properties) ? s.properties : {})) openAPIRules(f as Schema, `${path}.properties[${k}]`, out, toJsonSchema);
  for (const j of JUNCTORS) (Array.isArray(s[j]) ? s[j] : []).forEach((b: Schema, i: number) => openAPIRules(b, `${path}.${j}[${i}]`, out, toJsonSchema));
}

/**
 * Causes for one openAPIV3Schema, sorted like the real server's. `path` is where the server
 * reports it: `spec.validation.openAPIV3Schema` when all versions share one schema (the internal
 * form hoists it there), else `spec.versions[i].schema.openAPIV3Schema`.
 */
export function schemaCauses(schema: Schema, path: string, toJsonSchema: (s: Schema) => unknown): FieldCause[] {
  const structural: FieldCause[] = [];
  invariants(schema, 'root', path, structural);
  completenessEverywhere(schema, path, structural);
  const text = (c: FieldCause) => `${c.field}: ${c.message}`;
  structural.sort((a, b) => (text(a) < text(b) ? -1 : text(a) > text(b) ? 1 : 0));
  const rules: FieldCause[] = [];
  openAPIRules(schema, path, rules, toJsonSchema);
  const seen = new Set<string>();
  return [...rules, ...structural].filter((c) => (seen.has(text(c)) ? false : (seen.add(text(c)), true)));
}
