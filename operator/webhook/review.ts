import { HoardError } from '../../lib/errors.js';

/** admission.k8s.io/v1 AdmissionReview: what the API server sends and what it accepts back. */
export const REVIEW_API_VERSION = 'admission.k8s.io/v1';

export interface JsonPatchOp {
  op: 'add' | 'replace' | 'remove' | 'test';
  path: string;
  value?: unknown;
}

export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  namespace?: string;
  operation: string;
  dryRun: boolean;
  object: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const bad = (message: string) => new HoardError('INVALID_ARGUMENT', message);

/** A request uid is a UUID in practice; anything longer is not from an API server. */
const MAX_UID = 128;

/** Check an AdmissionReview body field by field; the error names the field at fault. */
export function parseReview(body: unknown): AdmissionRequest {
  if (!isObject(body)) throw bad('body: must be a JSON AdmissionReview object');
  if (body.apiVersion !== REVIEW_API_VERSION) throw bad(`apiVersion: "${String(body.apiVersion).slice(0, 64)}" is not served; send ${REVIEW_API_VERSION} (admissionReviewVersions: [v1])`);
  if (body.kind !== 'AdmissionReview') throw bad('kind: must be AdmissionReview');
  const r = body.request;
  if (!isObject(r)) throw bad('request: required');
  if (typeof r.uid !== 'string' || r.uid.length === 0 || r.uid.length > MAX_UID) throw bad(`request.uid: required, a string of at most ${MAX_UID} characters`);
  const k = r.kind;
  if (!isObject(k) || typeof k.group !== 'string' || typeof k.version !== 'string' || typeof k.kind !== 'string') throw bad('request.kind: required, {group, version, kind}');
  if (typeof r.operation !== 'string') throw bad('request.operation: required');
  if (r.namespace !== undefined && typeof r.namespace !== 'string') throw bad('request.namespace: must be a string');
  if (r.dryRun !== undefined && typeof r.dryRun !== 'boolean') throw bad('request.dryRun: must be a boolean');
  if (r.subResource !== undefined && typeof r.subResource !== 'string') throw bad('request.subResource: must be a string');
  const object = r.object ?? {};
  if (!isObject(object)) throw bad('request.object: must be an object');
  const res = r.resource;
  return {
    uid: r.uid,
    kind: { group: k.group, version: k.version, kind: k.kind },
    resource: isObject(res) ? { group: String(res.group ?? ''), version: String(res.version ?? ''), resource: String(res.resource ?? '') } : undefined,
    subResource: r.subResource as string | undefined,
    namespace: r.namespace as string | undefined,
    operation: r.operation,
    dryRun: r.dryRun === true,
    object,
  };
}

/** The reply: always allowed (this webhook only mutates); a JSONPatch when there is one. */
export function reviewResponse(uid: string, patch: JsonPatchOp[], warnings: string[] = []): Record<string, unknown> {
  return {
    apiVersion: REVIEW_API_VERSION,
    kind: 'AdmissionReview',
    response: {
      uid,
      allowed: true,
      ...(patch.length ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') } : {}),
      ...(warnings.length ? { warnings } : {}),
    },
  };
}
