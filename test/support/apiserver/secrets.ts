import { badRequest, cause, invalid } from './errors.js';
import type { Store } from './store.js';
import type { FieldCause, KObject, ResourceType } from './types.js';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;
/** Per-type required keys (pkg/apis/core/validation ValidateSecret). */
const REQUIRED: Record<string, string[]> = {
  'kubernetes.io/tls': ['tls.crt', 'tls.key'],
  'kubernetes.io/basic-auth': [],
  'kubernetes.io/dockerconfigjson': ['.dockerconfigjson'],
};
const MAX_TOTAL = 1024 * 1024;

/** core/v1 Secret: data is base64 ([]byte), keys are config keys, type-specific keys exist, at most 1 MiB. */
export function admitSecret(rt: ResourceType, obj: KObject, old: KObject | undefined): void {
  const causes: FieldCause[] = [];
  // stringData is write-only: merged into data, never stored.
  for (const [k, v] of Object.entries(obj.stringData ?? {})) obj.data = { ...(obj.data ?? {}), [k]: Buffer.from(String(v), 'utf8').toString('base64') };
  delete obj.stringData;
  let total = 0;
  for (const [k, v] of Object.entries(obj.data ?? {})) {
    if (typeof v !== 'string' || !BASE64.test(v)) throw badRequest(`Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 0 (data[${k}])`);
    if (!DATA_KEY.test(k) || k.length > 253) causes.push(cause('FieldValueInvalid', `data[${k}]`, `Invalid value: "${k}": a valid config key must consist of alphanumeric characters, '-', '_' or '.'`));
    total += Buffer.from(v, 'base64').length;
  }
  if (total > MAX_TOTAL) causes.push(cause('FieldValueTooLong', 'data', `Too long: must have at most ${MAX_TOTAL} bytes`));
  obj.type ??= 'Opaque';
  for (const k of REQUIRED[obj.type] ?? []) if (obj.data?.[k] === undefined) causes.push(cause('FieldValueRequired', `data[${k}]`, 'Required value'));
  if (old && (old.type ?? 'Opaque') !== obj.type) causes.push(cause('FieldValueInvalid', 'type', `Invalid value: "${obj.type}": field is immutable`));
  if (old?.immutable === true && JSON.stringify(old.data ?? {}) !== JSON.stringify(obj.data ?? {})) causes.push(cause('FieldValueForbidden', 'data', 'Forbidden: field is immutable when `immutable` is set'));
  if (causes.length) throw invalid(rt, obj.metadata.name, causes);
}

export function registerSecretValidation(store: Store): void {
  store.use({ admit: (rt, next, old) => (rt.storageKey === '/secrets' ? admitSecret(rt, next, old) : undefined) });
}
