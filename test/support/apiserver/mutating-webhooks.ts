import { randomUUID } from 'node:crypto';
import { ApiError, badRequest } from './errors.js';
import { nodeFor, unknownFields } from './fields.js';
import { jsonPatch } from './patch.js';
import type { Registry } from './registry.js';
import type { ServiceRoutes } from './service-routes.js';
import type { Store } from './store.js';
import type { KObject } from './types.js';
import { deepEqual, isObject } from './util.js';
import { CallingWebhookError, postReview, type WebhookEndpoint } from './webhook-call.js';
import { isExempt, shouldCall, type AdmissionAttributes } from './webhook-match.js';

const REVIEW_VERSIONS = ['v1', 'v1beta1'];
const USER = { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] };

interface Hook {
  /** Stable within one request: configuration name + index (the reinvocation bookkeeping key). */
  id: string;
  webhook: any;
}

/** Internal error with the real server's Status shape (apierrors.NewInternalError). */
function internalError(message: string): ApiError {
  return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] });
}

/** allowed: false -> the webhook's Status, made a failure (webhookerrors.ToStatusErr). */
function rejection(webhook: string, result: any): ApiError {
  const r = isObject(result) ? result : {};
  const code = typeof r.code === 'number' && r.code >= 400 ? r.code : 400;
  const denied = `admission webhook "${webhook}" denied the request`;
  const message = r.message ? `${denied}: ${r.message}` : r.reason ? `${denied}: ${r.reason}` : `${denied} without explanation`;
  return new ApiError(code, typeof r.reason === 'string' ? r.reason : '', message, isObject(r.details) ? r.details : undefined);
}

/**
 * The MutatingAdmissionWebhook plugin: every MutatingWebhookConfiguration (by name, then webhook
 * order) whose rules, namespaceSelector and objectSelector match the request is called over
 * HTTPS with an AdmissionReview; its JSONPatch is applied to the object the next one sees.
 * failurePolicy decides whether a webhook that cannot be called or answers nonsense fails the
 * request (Fail, the default) or is skipped (Ignore); a denial always fails it. Webhooks with
 * reinvocationPolicy IfNeeded are called once more when a later webhook changed the object.
 */
export class MutatingWebhooks {
  constructor(
    private readonly store: Store,
    private readonly registry: Registry,
    private readonly routes: ServiceRoutes,
  ) {}

  private hooks(): Hook[] {
    const rt = this.registry.lookup('admissionregistration.k8s.io', 'v1', 'mutatingwebhookconfigurations');
    if (!rt) return [];
    // store.list sorts by name: the order kube-apiserver calls configurations in.
    return this.store.list(rt).flatMap((c) => ((c.webhooks ?? []) as any[]).map((webhook, i) => ({ id: `${c.metadata.name}/${i}`, webhook })));
  }

  /** The object after every matching webhook; warnings from the webhooks are appended to `warnings`. */
  async admit(a: AdmissionAttributes, warnings: string[]): Promise<KObject | undefined> {
    if (isExempt(a.rt)) return a.object;
    const hooks = this.hooks();
    if (hooks.length === 0) return a.object;
    let attrs = a;
    const previouslyInvoked = new Set<string>();
    const reinvoke = new Set<string>();
    let again = false;
    for (const hook of hooks) {
      if (!shouldCall(hook.webhook, attrs, this.store, this.registry)) continue;
      const next = await this.call(hook.webhook, attrs, warnings);
      if (next !== attrs.object) {
        // A change: every IfNeeded webhook called before this one sees the object again.
        for (const id of previouslyInvoked) reinvoke.add(id);
        previouslyInvoked.clear();
        again = true;
        attrs = { ...attrs, object: next };
      }
      if (hook.webhook.reinvocationPolicy === 'IfNeeded') previouslyInvoked.add(hook.id);
    }
    if (!again) return attrs.object;
    // One more round, only for those webhooks; a webhook skipped the first time is not called now.
    for (const hook of hooks) {
      if (!reinvoke.has(hook.id) || !shouldCall(hook.webhook, attrs, this.store, this.registry)) continue;
      const next = await this.call(hook.webhook, attrs, warnings);
      if (next !== attrs.object) attrs = { ...attrs, object: next };
    }
    return attrs.object;
  }

  /** One webhook; returns the object (the same reference when unchanged). */
  private async call(w: any, a: AdmissionAttributes, warnings: string[]): Promise<KObject | undefined> {
    if (a.dryRun && w.sideEffects !== 'None' && w.sideEffects !== 'NoneOnDryRun') throw badRequest(`admission webhook "${w.name}" does not support dry run`);
    try {
      return await this.callOnce(w, a, warnings);
    } catch (e) {
      if (!(e instanceof CallingWebhookError)) throw e;
      if (w.failurePolicy === 'Ignore') return a.object; // fail open: the request goes on unchanged
      throw internalError(e.message);
    }
  }

  private endpoint(w: any): WebhookEndpoint {
    const cc = w.clientConfig ?? {};
    const ca = cc.caBundle ? Buffer.from(cc.caBundle, 'base64').toString('utf8') : undefined;
    if (cc.url) return { url: new URL(cc.url), display: String(cc.url).split('?')[0]!, ca };
    const s = cc.service;
    const port = s.port ?? 443;
    const display = `https://${s.name}.${s.namespace}.svc:${port}${s.path ?? ''}`;
    return { url: new URL(display), display, service: { namespace: s.namespace, name: s.name, port }, ca };
  }

  private async callOnce(w: any, a: AdmissionAttributes, warnings: string[]): Promise<KObject | undefined> {
    const version = ((w.admissionReviewVersions ?? []) as string[]).find((v) => REVIEW_VERSIONS.includes(v)) ?? 'v1';
    const apiVersion = `admission.k8s.io/${version}`;
    const uid = randomUUID();
    const gvk = { group: a.rt.group, version: a.rt.version, kind: a.rt.kind };
    const gvr = { group: a.rt.group, version: a.rt.version, resource: a.rt.plural };
    const request = {
      uid,
      kind: gvk,
      resource: gvr,
      ...(a.subresource ? { subResource: a.subresource, requestSubResource: a.subresource } : {}),
      requestKind: gvk,
      requestResource: gvr,
      ...(a.name ? { name: a.name } : {}),
      ...(a.namespace ? { namespace: a.namespace } : {}),
      operation: a.operation,
      userInfo: USER,
      object: a.object ?? null,
      oldObject: a.oldObject ?? null,
      dryRun: a.dryRun,
      options: { apiVersion: 'meta.k8s.io/v1', kind: a.operation === 'CREATE' ? 'CreateOptions' : a.operation === 'UPDATE' ? 'UpdateOptions' : 'DeleteOptions' },
    };
    const timeoutMs = (w.timeoutSeconds ?? 10) * 1000;
    const review = await postReview(w.name, this.endpoint(w), { apiVersion, kind: 'AdmissionReview', request }, timeoutMs, this.routes);
    const invalid = (why: string) => new CallingWebhookError(w.name, `received invalid webhook response: ${why}`);
    // webhookrequest.VerifyAdmissionResponse, in its order.
    const res = isObject(review) ? review.response : undefined;
    if (!isObject(res)) throw invalid('webhook response was absent');
    if (res.uid !== uid) throw invalid(`expected response.uid=${JSON.stringify(uid)}, got ${JSON.stringify(String(res.uid ?? ''))}`);
    const [g, v] = String(review.apiVersion ?? '').includes('/') ? String(review.apiVersion).split('/') : ['', String(review.apiVersion ?? '')];
    if (review.apiVersion !== apiVersion || review.kind !== 'AdmissionReview') throw invalid(`expected webhook response of admission.k8s.io/${version}, Kind=AdmissionReview, got ${g}/${v}, Kind=${String(review.kind ?? '')}`);
    const hasPatch = typeof res.patch === 'string' && res.patch.length > 0;
    if (version === 'v1') {
      if (hasPatch && res.patchType === undefined) throw invalid('webhook returned response.patch but not response.patchType');
      if (!hasPatch && res.patchType !== undefined) throw invalid('webhook returned response.patchType but not response.patch');
      if (res.patchType === '') throw invalid('webhook returned invalid response.patchType of ""');
    }
    for (const warning of Array.isArray(res.warnings) ? res.warnings : []) if (typeof warning === 'string') warnings.push(warning);
    if (res.allowed !== true) throw rejection(w.name, res.status);
    if (!hasPatch) return a.object;
    let ops: unknown;
    const raw = Buffer.from(res.patch, 'base64');
    if (raw.toString('base64').replace(/=+$/, '') !== String(res.patch).replace(/=+$/, '')) throw new CallingWebhookError(w.name, 'failed to call webhook: illegal base64 data in response.patch');
    try {
      ops = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      throw new CallingWebhookError(w.name, `received undecodable patch in webhook response: ${(e as Error).message}`);
    }
    if (!Array.isArray(ops)) throw new CallingWebhookError(w.name, 'received undecodable patch in webhook response: json: cannot unmarshal object into Go value of type jsonpatch.Patch');
    if (ops.length === 0) return a.object;
    if (!a.object) throw internalError(`admission webhook "${w.name}" attempted to modify the object, which is not supported for this operation`);
    if (res.patchType !== undefined && res.patchType !== 'JSONPatch') throw new CallingWebhookError(w.name, `unsupported patch type "${String(res.patchType)}"`);
    let patched: unknown;
    try {
      patched = jsonPatch(a.object, ops);
    } catch (e) {
      throw internalError((e as Error).message);
    }
    if (!isObject(patched) || !isObject(patched.metadata)) throw internalError(`admission webhook "${w.name}" returned a patch that does not leave an object`);
    // The patched JSON is decoded into the typed object again: fields the type lacks are dropped.
    const node = nodeFor(a.rt);
    if (node) unknownFields(patched, node, true);
    return deepEqual(patched, a.object) ? a.object : (patched as KObject);
  }
}
