import { cause } from './errors.js';
import type { FieldCause, KObject, ResourceType } from './types.js';

/** The server-side metadata rules every object passes (names, labels, annotations). */

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function nameCauses(name: string, rule: 'label' | 'subdomain', field: string): FieldCause[] {
  if (rule === 'label') {
    if (name.length > 63) return [cause('FieldValueInvalid', field, `Invalid value: "${name}": must be no more than 63 characters`)];
    if (!LABEL.test(name)) {
      return [cause('FieldValueInvalid', field, `Invalid value: "${name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`)];
    }
    return [];
  }
  if (name.length > 253) return [cause('FieldValueInvalid', field, `Invalid value: "${name}": must be no more than 253 characters`)];
  if (!SUBDOMAIN.test(name)) {
    return [cause('FieldValueInvalid', field, `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`)];
  }
  return [];
}

function keyCauses(key: string, field: string): FieldCause[] {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : '';
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const bad = (why: string) => [cause('FieldValueInvalid', field, `Invalid value: "${key}": ${why}`)];
  if (slash >= 0 && (prefix.length === 0 || prefix.length > 253 || !SUBDOMAIN.test(prefix))) return bad('prefix part must be a lowercase RFC 1123 subdomain');
  if (name.length === 0 || name.length > 63) return bad('name part must be non-empty and no more than 63 characters');
  if (!QUALIFIED_NAME.test(name)) return bad("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
  return [];
}

export function metadataCauses(rt: ResourceType, obj: KObject): FieldCause[] {
  const md = obj.metadata;
  const causes: FieldCause[] = [];
  if (typeof md.name === 'string') causes.push(...nameCauses(md.name, rt.nameRule, 'metadata.name'));
  for (const [k, v] of Object.entries(md.labels ?? {})) {
    causes.push(...keyCauses(k, 'metadata.labels'));
    if (typeof v !== 'string') causes.push(cause('FieldValueTypeInvalid', `metadata.labels[${k}]`, 'Invalid value: label values must be strings'));
    else if (v.length > 63 || !LABEL_VALUE.test(v)) {
      causes.push(cause('FieldValueInvalid', 'metadata.labels', `Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, at most 63 characters`));
    }
  }
  for (const [k, v] of Object.entries(md.annotations ?? {})) {
    causes.push(...keyCauses(k, 'metadata.annotations'));
    if (typeof v !== 'string') causes.push(cause('FieldValueTypeInvalid', `metadata.annotations[${k}]`, 'Invalid value: annotation values must be strings'));
  }
  for (const [i, ref] of (md.ownerReferences ?? []).entries()) {
    for (const f of ['apiVersion', 'kind', 'name', 'uid']) {
      if (!ref?.[f]) causes.push(cause('FieldValueRequired', `metadata.ownerReferences[${i}].${f}`, 'Required value'));
    }
  }
  return causes;
}
