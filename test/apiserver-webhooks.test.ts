import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCa, createServingCert, type PemPair } from '../operator/webhook/certs.js';
import { startApiServer, type ApiServer } from './support/apiserver/index.js';
import { rawRequest } from './support/kube.js';

/**
 * The emulator calls MutatingWebhookConfigurations the way kube-apiserver does: over HTTPS,
 * verified against caBundle for <svc>.<ns>.svc, with an admission.k8s.io/v1 AdmissionReview,
 * applying the JSONPatch, honouring rules, selectors, failurePolicy, timeoutSeconds and
 * reinvocationPolicy, and refusing with the real server's messages.
 */

const HOOK_NS = 'hooks';
const SVC = 'wh';
const HOST = `${SVC}.${HOOK_NS}.svc`;
const YEAR = 365 * 24 * 3600_000;

let api: ApiServer;
let server: Server;
let ca: PemPair;
let otherCa: PemPair;
let wrongName: PemPair;
/** Every review the test webhook received, by path. */
const calls: { path: string; review: any }[] = [];

type Reply = (review: any) => { status?: number; body: unknown; delayMs?: number };
const patchOf = (ops: unknown[]) => Buffer.from(JSON.stringify(ops)).toString('base64');
const allow = (review: any, extra: Record<string, unknown> = {}) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: true, ...extra } });
const addLabel = (key: string, value: string) => ({ op: 'add', path: `/metadata/labels/${key.replace(/\//g, '~1')}`, value });
const hasLabels = (r: any) => r.request.object?.metadata?.labels !== undefined;

/** What the test webhook answers, by path. */
const replies: Record<string, Reply> = {
  '/label': (r) => ({ body: allow(r, { patchType: 'JSONPatch', patch: patchOf(hasLabels(r) ? [addLabel('mutated', 'yes')] : [{ op: 'add', path: '/metadata/labels', value: { mutated: 'yes' } }]) }) }),
  '/count': (r) => {
    const n = Number(r.request.object.metadata.labels?.count ?? 0) + 1;
    return { body: allow(r, { patchType: 'JSONPatch', patch: patchOf(hasLabels(r) ? [addLabel('count', String(n))] : [{ op: 'add', path: '/metadata/labels', value: { count: String(n) } }]) }) };
  },
  '/noop': (r) => ({ body: allow(r, { warnings: ['noop webhook saw this pod'] }) }),
  '/deny': (r) => ({ body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: r.request.uid, allowed: false, status: { code: 403, message: 'pods here need an owner label' } } } }),
  '/wrong-uid': (r) => ({ body: { ...allow(r), response: { uid: 'not-the-request', allowed: true } } }),
  '/no-response': () => ({ body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' } }),
  '/no-kind': (r) => ({ body: { response: { uid: r.request.uid, allowed: true } } }),
  '/patch-no-type': (r) => ({ body: allow(r, { patch: patchOf([addLabel('x', 'y')]) }) }),
  '/bad-patch': (r) => ({ body: allow(r, { patchType: 'JSONPatch', patch: patchOf([{ op: 'replace', path: '/spec/nothing/here', value: 1 }]) }) }),
  '/not-json': () => ({ body: 'this is not json' }),
  '/error-500': () => ({ status: 500, body: 'boom' }),
  '/slow': (r) => ({ body: allow(r), delayMs: 2500 }),
};

async function startWebhookServer(pair: PemPair): Promise<Server> {
  const s = createServer({ cert: pair.cert, key: pair.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!;
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      calls.push({ path: req.url ?? '', review });
      const reply = replies[path]?.(review) ?? { status: 404, body: 'no such path' };
      const send = () => {
        if (res.destroyed) return;
        const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
        res.writeHead(reply.status ?? 200, { 'Content-Type': 'application/json' });
        res.end(text);
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return s;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** One webhook of a configuration; the defaults call `path` on the test Service for pod CREATEs in labelled namespaces. */
function hook(name: string, path: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    clientConfig: { service: { name: SVC, namespace: HOOK_NS, path, port: 443 }, caBundle: b64(ca.cert) },
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
    namespaceSelector: { matchLabels: { webhooks: 'on' } },
    ...over,
  };
}

async function configure(name: string, webhooks: Record<string, unknown>[]): Promise<void> {
  const res = await rawRequest(api.kubeConfig, 'POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name },
    webhooks,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

async function clearConfigurations(): Promise<void> {
  await rawRequest(api.kubeConfig, 'DELETE', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations');
}

let podCounter = 0;
const podBody = (labels?: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: `p${++podCounter}`, ...(labels ? { labels } : {}) },
  spec: { containers: [{ name: 'c', image: 'busybox' }] },
});
const createPod = (ns: string, labels?: Record<string, string>, query = '') => rawRequest(api.kubeConfig, 'POST', `/api/v1/namespaces/${ns}/pods${query}`, podBody(labels));

beforeAll(async () => {
  const now = new Date();
  ca = await createCa('test-ca', now, YEAR);
  otherCa = await createCa('other-ca', now, YEAR);
  wrongName = await createServingCert(ca, ['somebody-else.hooks.svc'], now, YEAR);
  server = await startWebhookServer(await createServingCert(ca, [HOST], now, YEAR));
  api = await startApiServer();
  for (const [name, labels] of [[HOOK_NS, {}], ['on', { webhooks: 'on' }], ['off', {}]] as const) {
    await rawRequest(api.kubeConfig, 'POST', '/api/v1/namespaces', { metadata: { name, labels } });
  }
  await rawRequest(api.kubeConfig, 'POST', `/api/v1/namespaces/${HOOK_NS}/services`, { metadata: { name: SVC }, spec: { ports: [{ port: 443, targetPort: 8443 }] } });
  api.services.route({ namespace: HOOK_NS, name: SVC, port: 443 }, { host: '127.0.0.1', port: (server.address() as AddressInfo).port });
}, 60_000);

afterAll(async () => {
  await api?.stop();
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

beforeEach(async () => {
  await clearConfigurations();
  calls.length = 0;
});

describe('API-server emulator: mutating admission webhooks', () => {
  it('sends an admission.k8s.io/v1 AdmissionReview over verified HTTPS and stores the patched pod', async () => {
    await configure('label', [hook('label.hooks.test', '/label', { timeoutSeconds: 7 })]);
    const res = await createPod('on', { app: 'x' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.metadata.labels).toEqual({ app: 'x', mutated: 'yes' });
    const stored = await rawRequest(api.kubeConfig, 'GET', `/api/v1/namespaces/on/pods/${res.body.metadata.name}`);
    expect(stored.body.metadata.labels.mutated).toBe('yes');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.path).toBe('/label?timeout=7s');
    const r = calls[0]!.review;
    expect(r).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
    expect(r.request).toMatchObject({
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'on',
      name: res.body.metadata.name,
      operation: 'CREATE',
      dryRun: false,
      oldObject: null,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    });
    expect(r.request.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.request.object.metadata).toMatchObject({ namespace: 'on', labels: { app: 'x' } });
    expect(r.request.object.metadata.uid).toBeUndefined();
  });

  it('calls only webhooks whose rules, namespaceSelector and objectSelector match', async () => {
    await configure('selective', [
      hook('label.hooks.test', '/label', { objectSelector: { matchExpressions: [{ key: 'skip', operator: 'DoesNotExist' }] } }),
      hook('updates.hooks.test', '/count', { rules: [{ operations: ['UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }] }),
      hook('configmaps.hooks.test', '/count', { rules: [{ operations: ['*'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }] }),
      hook('apps.hooks.test', '/count', { rules: [{ operations: ['CREATE'], apiGroups: ['apps'], apiVersions: ['*'], resources: ['*'] }] }),
      hook('cluster.hooks.test', '/count', { rules: [{ operations: ['CREATE'], apiGroups: ['*'], apiVersions: ['*'], resources: ['pods'], scope: 'Cluster' }] }),
      hook('status.hooks.test', '/count', { rules: [{ operations: ['UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods/status'] }] }),
    ]);
    const unlabelledNs = await createPod('off');
    expect(unlabelledNs.body.metadata.labels).toBeUndefined();
    const optedOut = await createPod('on', { skip: 'yes' });
    expect(optedOut.body.metadata.labels).toEqual({ skip: 'yes' });
    expect(calls).toEqual([]);
    const mutated = await createPod('on');
    expect(mutated.body.metadata.labels).toEqual({ mutated: 'yes' });
    expect(calls.map((c) => c.path)).toEqual(['/label?timeout=10s']);
    // An UPDATE reaches the UPDATE webhook with the old object; pods/status only the status one.
    calls.length = 0;
    const name = mutated.body.metadata.name;
    const patched = await rawRequest(api.kubeConfig, 'PATCH', `/api/v1/namespaces/on/pods/${name}`, { metadata: { labels: { extra: '1' } } }, 'application/merge-patch+json');
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body.metadata.labels).toEqual({ mutated: 'yes', extra: '1', count: '1' });
    expect(calls.map((c) => c.review.request.operation)).toEqual(['UPDATE']);
    expect(calls[0]!.review.request.oldObject.metadata.labels).toEqual({ mutated: 'yes' });
    expect(calls[0]!.review.request.options.kind).toBe('UpdateOptions');
    calls.length = 0;
    const status = await rawRequest(api.kubeConfig, 'PATCH', `/api/v1/namespaces/on/pods/${name}/status`, { status: { phase: 'Running' } }, 'application/merge-patch+json');
    expect(status.status).toBe(200);
    expect(calls.map((c) => [c.review.request.subResource, c.path])).toEqual([['status', '/count?timeout=10s']]);
    // ConfigMaps: only the configmaps webhook.
    calls.length = 0;
    await rawRequest(api.kubeConfig, 'POST', '/api/v1/namespaces/on/configmaps', { metadata: { name: 'cm' } });
    expect(calls).toHaveLength(1);
  });

  it('failurePolicy Fail refuses the create when the webhook cannot be called or answers nonsense; Ignore lets it through unchanged', async () => {
    const url = (path: string, svc = SVC) => `Post "https://${svc}.${HOOK_NS}.svc:443${path}?timeout=10s"`;
    const cases: [Record<string, unknown>, string][] = [
      [{ clientConfig: { service: { name: 'missing', namespace: HOOK_NS, path: '/label', port: 443 }, caBundle: b64(ca.cert) } }, `failed to call webhook: ${url('/label', 'missing')}: service "missing" not found`],
      [{ clientConfig: { service: { name: SVC, namespace: HOOK_NS, path: '/label', port: 8443 }, caBundle: b64(ca.cert) } }, `no service port 8443 found for service "${SVC}"`],
      [{ clientConfig: { service: { name: SVC, namespace: HOOK_NS, path: '/label', port: 443 }, caBundle: b64(otherCa.cert) } }, `failed to call webhook: ${url('/label')}: tls: failed to verify certificate: x509: certificate signed by unknown authority`],
      [{ clientConfig: { service: { name: SVC, namespace: HOOK_NS, path: '/label', port: 443 } } }, 'x509: certificate signed by unknown authority'],
      [{ clientConfig: { service: { name: SVC, namespace: HOOK_NS, path: '/wrong-uid', port: 443 }, caBundle: b64(ca.cert) } }, 'received invalid webhook response: expected response.uid='],
      [{ clientConfig: { service: { name: SVC, namespace: HOOK_NS, path: '/no-response', port: 443 }, caBundle: b64(ca.cert) } }, 'received invalid webhook response: webhook response was absent'],
      [{ clientConfig: { service: { name: SVC, namespace: HOOK_NS, path: '/no-kind', port: 443 }, caBundle: b64(ca.cert) } }, 'received invalid webhook response: expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got /, Kind='],
      [{ clientConfig: { service: { name: SVC, namespace: HOOK_NS, path: '/patch-no-type', port: 443 }, caBundle: b64(ca.cert) } }, 'webhook returned response.patch but not response.patchType'],
      [{ clientConfig: { service: { name: SVC, namespace: HOOK_NS, path: '/not-json', port: 443 }, caBundle: b64(ca.cert) } }, 'failed to call webhook: couldn\'t get version/kind; json parse error'],
      [{ clientConfig: { service: { name: SVC, namespace: HOOK_NS, path: '/error-500', port: 443 }, caBundle: b64(ca.cert) } }, 'failed to call webhook: an error on the server ("boom") has prevented the request from succeeding'],
      [{ clientConfig: { service: { name: SVC, namespace: HOOK_NS, path: '/nowhere', port: 443 }, caBundle: b64(ca.cert) } }, 'failed to call webhook: the server could not find the requested resource'],
    ];
    for (const [i, [over, message]] of cases.entries()) {
      await clearConfigurations();
      await configure(`fail-${i}`, [hook('fail.hooks.test', '/label', over)]);
      const refused = await createPod('on');
      expect({ i, status: refused.status, reason: refused.body.reason }).toEqual({ i, status: 500, reason: 'InternalError' });
      expect(refused.body.message, `case ${i}`).toContain('Internal error occurred: failed calling webhook "fail.hooks.test": ');
      expect(refused.body.message, `case ${i}`).toContain(message);
      await clearConfigurations();
      await configure(`ignore-${i}`, [hook('ignore.hooks.test', '/label', { ...over, failurePolicy: 'Ignore' })]);
      const through = await createPod('on', { app: 'y' });
      expect({ i, status: through.status, labels: through.body.metadata?.labels }).toEqual({ i, status: 201, labels: { app: 'y' } });
    }
    // Nothing listens behind the Service: refused, with the dialled address.
    api.services.unroute({ namespace: HOOK_NS, name: SVC, port: 443 });
    try {
      await configure('down', [hook('down.hooks.test', '/label')]);
      const down = await createPod('on');
      expect(down.status).toBe(500);
      expect(down.body.message).toBe(`Internal error occurred: failed calling webhook "down.hooks.test": failed to call webhook: ${url('/label')}: dial tcp ${HOST}:443: connect: connection refused`);
    } finally {
      api.services.route({ namespace: HOOK_NS, name: SVC, port: 443 }, { host: '127.0.0.1', port: (server.address() as AddressInfo).port });
    }
  });

  it('verifies the certificate for <svc>.<ns>.svc, not for the address it dials', async () => {
    const other = await startWebhookServer(wrongName);
    try {
      api.services.route({ namespace: HOOK_NS, name: 'other', port: 443 }, { host: '127.0.0.1', port: (other.address() as AddressInfo).port });
      await rawRequest(api.kubeConfig, 'POST', `/api/v1/namespaces/${HOOK_NS}/services`, { metadata: { name: 'other' }, spec: { ports: [{ port: 443 }] } });
      await configure('named', [hook('named.hooks.test', '/label', { clientConfig: { service: { name: 'other', namespace: HOOK_NS, path: '/label' }, caBundle: b64(ca.cert) } })]);
      const res = await createPod('on');
      expect(res.status).toBe(500);
      expect(res.body.message).toContain('tls: failed to verify certificate: x509: certificate is valid for somebody-else.hooks.svc, not other.hooks.svc');
    } finally {
      other.closeAllConnections();
      other.close();
    }
  });

  it('gives up after timeoutSeconds: Fail refuses, Ignore continues', async () => {
    await configure('slow', [hook('slow.hooks.test', '/slow', { timeoutSeconds: 1 })]);
    const refused = await createPod('on');
    expect(refused.status).toBe(500);
    expect(refused.body.message).toMatch(/failed calling webhook "slow\.hooks\.test": failed to call webhook: Post "https:\/\/wh\.hooks\.svc:443\/slow\?timeout=1s": context deadline exceeded$/);
    // (The webhook would have allowed it after 2.5 s: the refusal is the deadline's.)
    await clearConfigurations();
    await configure('slow-ignore', [hook('slow.hooks.test', '/slow', { timeoutSeconds: 1, failurePolicy: 'Ignore' })]);
    expect((await createPod('on')).status).toBe(201);
  });

  it('a denial refuses the request whatever the failurePolicy, with the webhook\'s code and message', async () => {
    await configure('deny', [hook('deny.hooks.test', '/deny', { failurePolicy: 'Ignore' })]);
    const res = await createPod('on');
    expect(res.status).toBe(403);
    expect(res.body.message).toBe('admission webhook "deny.hooks.test" denied the request: pods here need an owner label');
  });

  it('a patch that does not apply is an internal error even with failurePolicy Ignore', async () => {
    await configure('bad-patch', [hook('bad.hooks.test', '/bad-patch', { failurePolicy: 'Ignore' })]);
    const res = await createPod('on');
    expect(res.status).toBe(500);
    expect(res.body.message).toMatch(/^Internal error occurred: .*\/spec\/nothing\/here/);
  });

  it('reinvokes IfNeeded webhooks once when a later webhook changed the object; Never ones are not', async () => {
    await configure('a-counter', [hook('count.hooks.test', '/count', { reinvocationPolicy: 'IfNeeded' })]);
    await configure('b-label', [hook('label.hooks.test', '/label')]);
    const res = await createPod('on');
    expect(calls.map((c) => c.path.split('?')[0])).toEqual(['/count', '/label', '/count']);
    expect(res.body.metadata.labels).toEqual({ count: '2', mutated: 'yes' });
    await clearConfigurations();
    calls.length = 0;
    await configure('a-counter', [hook('count.hooks.test', '/count', { reinvocationPolicy: 'Never' })]);
    await configure('b-label', [hook('label.hooks.test', '/label')]);
    const once = await createPod('on');
    expect(calls.map((c) => c.path.split('?')[0])).toEqual(['/count', '/label']);
    expect(once.body.metadata.labels).toEqual({ count: '1', mutated: 'yes' });
  });

  it('passes dryRun and the webhook\'s warnings on, and never calls webhooks for webhook configurations', async () => {
    await configure('noop', [hook('noop.hooks.test', '/noop', { rules: [{ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*'] }], namespaceSelector: {} })]);
    const dry = await createPod('on', undefined, '?dryRun=All');
    expect(dry.status).toBe(201);
    expect(calls.map((c) => c.review.request.dryRun)).toEqual([true]);
    expect((await rawRequest(api.kubeConfig, 'GET', `/api/v1/namespaces/on/pods/${dry.body.metadata.name}`)).status).toBe(404);
    calls.length = 0;
    await configure('another', [hook('another.hooks.test', '/noop')]);
    expect(calls).toEqual([]);
    const warned = await new Promise<string | string[] | undefined>((resolve, reject) => {
      const url = new URL(`${api.url}/api/v1/namespaces/on/pods`);
      const body = JSON.stringify(podBody());
      import('node:http').then(({ request }) => {
        const req = request(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.headers.warning));
        });
        req.on('error', reject);
        req.end(body);
      }, reject);
    });
    expect(String(warned)).toContain('noop webhook saw this pod');
  });
});
