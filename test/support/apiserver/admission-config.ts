import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { badRequest, cause, invalid } from './errors.js';
import type { Store } from './store.js';
import type { FieldCause, KObject, ResourceType } from './types.js';

const KEY = 'admissionregistration.k8s.io/mutatingwebhookconfigurations';
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const OPERATIONS = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT', '*'];
const SELECTOR_OPS = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

function enumCause(causes: FieldCause[], at: string, value: unknown, allowed: string[]): void {
  if (value !== undefined && !allowed.includes(value as string)) {
    causes.push(cause('FieldValueNotSupported', at, `Unsupported value: "${String(value)}": supported values: ${allowed.map((a) => `"${a}"`).join(', ')}`));
  }
}

function selectorCauses(causes: FieldCause[], at: string, sel: any): void {
  for (const [i, e] of (sel?.matchExpressions ?? []).entries()) {
    const f = `${at}.matchExpressions[${i}]`;
    enumCause(causes, `${f}.operator`, e.operator, SELECTOR_OPS);
    const hasValues = Array.isArray(e.values) && e.values.length > 0;
    if ((e.operator === 'In' || e.operator === 'NotIn') && !hasValues) causes.push(cause('FieldValueRequired', `${f}.values`, 'Required value: must be specified when `operator` is \'In\' or \'NotIn\''));
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && hasValues) causes.push(cause('FieldValueForbidden', `${f}.values`, 'Forbidden: may not be specified when `operator` is \'Exists\' or \'DoesNotExist\''));
  }
}

/** clientConfig.url (webhook.ValidateWebhookURL): https only, a host, no user info, query or fragment. */
function urlCauses(causes: FieldCause[], at: string, raw: string): void {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    causes.push(cause('FieldValueInvalid', at, `Invalid value: "${raw}": host must be specified`));
    return;
  }
  const bad = (why: string) => causes.push(cause('FieldValueInvalid', at, `Invalid value: "${raw}": ${why}`));
  if (u.protocol !== 'https:') bad("'https' is the only allowed URL scheme");
  if (!u.hostname) bad('host must be specified');
  if (u.username || u.password) bad('user information is not permitted in the URL');
  if (u.hash || raw.includes('#')) bad('fragments are not permitted in the URL');
  if (u.search || raw.includes('?')) bad('query parameters are not permitted in the URL');
}

/**
 * admissionregistration.k8s.io/v1 MutatingWebhookConfiguration as kube-apiserver validates and
 * defaults it (ValidateMutatingWebhookConfiguration + SetDefaults_MutatingWebhook).
 */
export function admitMutatingWebhookConfiguration(rt: ResourceType, obj: KObject): void {
  const causes: FieldCause[] = [];
  const seen = new Set<string>();
  for (const [i, w] of ((obj.webhooks ?? []) as any[]).entries()) {
    const at = `webhooks[${i}]`;
    if (!w.name) causes.push(cause('FieldValueRequired', `${at}.name`, 'Required value'));
    else if (!SUBDOMAIN.test(w.name) || w.name.split('.').length < 3) causes.push(cause('FieldValueInvalid', `${at}.name`, `Invalid value: "${w.name}": should be a domain with at least three segments separated by dots`));
    else if (seen.has(w.name)) causes.push(cause('FieldValueDuplicate', `${at}.name`, `Duplicate value: "${w.name}"`));
    seen.add(w.name);
    const versions: string[] = w.admissionReviewVersions ?? [];
    if (!versions.some((v) => v === 'v1' || v === 'v1beta1')) causes.push(cause('FieldValueRequired', `${at}.admissionReviewVersions`, 'Required value: must specify one of v1, v1beta1'));
    if (w.sideEffects === undefined) causes.push(cause('FieldValueRequired', `${at}.sideEffects`, 'Required value: must specify one of None, NoneOnDryRun'));
    enumCause(causes, `${at}.sideEffects`, w.sideEffects, ['None', 'NoneOnDryRun']);
    enumCause(causes, `${at}.failurePolicy`, w.failurePolicy, ['Ignore', 'Fail']);
    enumCause(causes, `${at}.matchPolicy`, w.matchPolicy, ['Exact', 'Equivalent']);
    enumCause(causes, `${at}.reinvocationPolicy`, w.reinvocationPolicy, ['Never', 'IfNeeded']);
    if (w.timeoutSeconds !== undefined && (w.timeoutSeconds < 1 || w.timeoutSeconds > 30)) causes.push(cause('FieldValueInvalid', `${at}.timeoutSeconds`, `Invalid value: ${w.timeoutSeconds}: the timeout value must be between 1 and 30 seconds`));
    const cc = w.clientConfig ?? {};
    if ((cc.url === undefined) === (cc.service === undefined)) causes.push(cause('FieldValueRequired', `${at}.clientConfig`, 'Required value: exactly one of url or service is required'));
    if (cc.url !== undefined) urlCauses(causes, `${at}.clientConfig.url`, String(cc.url));
    if (cc.service) {
      if (!cc.service.name) causes.push(cause('FieldValueRequired', `${at}.clientConfig.service.name`, 'Required value: service name is required'));
      if (!cc.service.namespace) causes.push(cause('FieldValueRequired', `${at}.clientConfig.service.namespace`, 'Required value: service namespace is required'));
      if (cc.service.path !== undefined && !String(cc.service.path).startsWith('/')) causes.push(cause('FieldValueInvalid', `${at}.clientConfig.service.path`, `Invalid value: "${cc.service.path}": must start with a '/'`));
      if (cc.service.port !== undefined && (cc.service.port < 1 || cc.service.port > 65535)) causes.push(cause('FieldValueInvalid', `${at}.clientConfig.service.port`, `Invalid value: ${cc.service.port}: port is not valid`));
    }
    // caBundle is []byte: JSON carries it as base64, and anything else fails to decode.
    if (cc.caBundle !== undefined && !BASE64.test(cc.caBundle)) throw badRequest(`MutatingWebhookConfiguration in version "v1" cannot be handled as a MutatingWebhookConfiguration: illegal base64 data at input byte 0 (${at}.clientConfig.caBundle)`);
    for (const [j, r] of ((w.rules ?? []) as any[]).entries()) {
      const rat = `${at}.rules[${j}]`;
      for (const f of ['operations', 'apiGroups', 'apiVersions', 'resources']) if (!Array.isArray(r[f]) || r[f].length === 0) causes.push(cause('FieldValueRequired', `${rat}.${f}`, 'Required value'));
      for (const op of r.operations ?? []) enumCause(causes, `${rat}.operations`, op, OPERATIONS);
      enumCause(causes, `${rat}.scope`, r.scope, ['Cluster', 'Namespaced', '*']);
    }
    selectorCauses(causes, `${at}.namespaceSelector`, w.namespaceSelector);
    selectorCauses(causes, `${at}.objectSelector`, w.objectSelector);
  }
  if (causes.length) throw invalid(rt, obj.metadata.name, causes);
  // Field types (the OpenAPI schema), after the rules above so their messages name the field.
  try {
    new MutatingWebhookConfiguration(obj as never).validate();
  } catch (e) {
    throw invalid(rt, obj.metadata.name, [cause('FieldValueInvalid', 'webhooks', (e as Error).message)]);
  }
  for (const w of (obj.webhooks ?? []) as any[]) {
    const cc = w.clientConfig ?? {};
    // Defaults of admissionregistration/v1.
    w.failurePolicy ??= 'Fail';
    w.matchPolicy ??= 'Equivalent';
    w.reinvocationPolicy ??= 'Never';
    w.timeoutSeconds ??= 10;
    w.namespaceSelector ??= {};
    w.objectSelector ??= {};
    if (cc.service) cc.service.port ??= 443;
    for (const r of w.rules ?? []) r.scope ??= '*';
  }
}

export function registerAdmissionConfigValidation(store: Store): void {
  store.use({ admit: (rt, next) => (rt.storageKey === KEY ? admitMutatingWebhookConfiguration(rt, next) : undefined) });
}
