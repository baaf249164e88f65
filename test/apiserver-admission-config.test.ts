import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { startApiServer, type ApiServer } from './support/apiserver/index.js';
import { apiFailure } from './support/kube.js';
import { webhookConfiguration } from './webhook/cluster.js';

let api: ApiServer;
let admission: AdmissionregistrationV1Api;
let core: CoreV1Api;

beforeAll(async () => {
  api = await startApiServer();
  admission = api.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  core = api.kubeConfig.makeApiClient(CoreV1Api);
});
afterAll(async () => api?.stop());

const withWebhook = (name: string, over: Record<string, unknown>) => {
  const c = webhookConfiguration();
  c.metadata.name = name;
  Object.assign(c.webhooks[0], over);
  return c;
};

describe('API-server emulator: admissionregistration.k8s.io/v1 MutatingWebhookConfiguration', () => {
  it('accepts the chart\'s configuration and applies the v1 defaults', async () => {
    const created = await admission.createMutatingWebhookConfiguration({ body: withWebhook('ok', {}) as never });
    expect(created.metadata?.generation).toBe(1);
    const w = created.webhooks![0]!;
    expect(w).toMatchObject({ failurePolicy: 'Ignore', matchPolicy: 'Equivalent', reinvocationPolicy: 'IfNeeded', timeoutSeconds: 5, sideEffects: 'None' });
    expect(w.clientConfig.service?.port).toBe(443);
    const plain = await admission.createMutatingWebhookConfiguration({
      body: withWebhook('defaults', { failurePolicy: undefined, reinvocationPolicy: undefined, timeoutSeconds: undefined, namespaceSelector: undefined, objectSelector: undefined }) as never,
    });
    expect(plain.webhooks![0]).toMatchObject({ failurePolicy: 'Fail', reinvocationPolicy: 'Never', timeoutSeconds: 10, namespaceSelector: {}, objectSelector: {} });
  });

  it('refuses what kube-apiserver refuses, naming the field', async () => {
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [{ name: 'pods' }, 422, /webhooks\[0\]\.name.*at least three segments/],
      [{ sideEffects: undefined }, 422, /sideEffects/],
      [{ sideEffects: 'Some' }, 422, /webhooks\[0\]\.sideEffects: Unsupported value: "Some"/],
      [{ admissionReviewVersions: ['v2'] }, 422, /admissionReviewVersions/],
      [{ timeoutSeconds: 31 }, 422, /timeoutSeconds.*between 1 and 30/],
      [{ failurePolicy: 'Maybe' }, 422, /failurePolicy: Unsupported value/],
      [{ clientConfig: { url: 'https://x', service: { name: 's', namespace: 'n' } } }, 422, /exactly one of url or service/],
      [{ clientConfig: { service: { name: 's', namespace: 'n', path: 'mutate' } } }, 422, /must start with a '\/'/],
      [{ clientConfig: { service: { name: 's', namespace: 'n' }, caBundle: 'not base64!' } }, 400, /illegal base64/],
      [{ rules: [{ operations: ['PATCH'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }] }, 422, /operations: Unsupported value: "PATCH"/],
      [{ namespaceSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }, 422, /namespaceSelector\.matchExpressions\[0\]\.values: Required value/],
      [{ timeoutSeconds: 'five' }, 422, /timeoutSeconds/],
      [{ clientConfig: { url: 'http://hooks.example.com/mutate' } }, 422, /clientConfig\.url: Invalid value: "http:\/\/hooks\.example\.com\/mutate": 'https' is the only allowed URL scheme/],
      [{ clientConfig: { url: 'https://hooks.example.com/mutate?x=1' } }, 422, /query parameters are not permitted/],
    ];
    for (const [i, [over, code, message]] of cases.entries()) {
      const f = await apiFailure(() => admission.createMutatingWebhookConfiguration({ body: withWebhook(`bad-${i}`, over) as never }));
      expect({ over, code: f.code, message: f.status.message }).toEqual({ over, code, message: expect.stringMatching(message) });
    }
  });

  it('applies a JSON patch to caBundle and bumps generation', async () => {
    const before = await admission.readMutatingWebhookConfiguration({ name: 'ok' });
    const after = await admission.patchMutatingWebhookConfiguration({ name: 'ok', body: [{ op: 'test', path: '/webhooks/0/name', value: 'pods.data.hoard.dev' }, { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: Buffer.from('pem').toString('base64') }] });
    expect(after.webhooks![0]!.clientConfig.caBundle).toBe('cGVt');
    expect(after.metadata?.generation).toBe((before.metadata?.generation ?? 0) + 1);
    const failed = await apiFailure(() => admission.patchMutatingWebhookConfiguration({ name: 'ok', body: [{ op: 'test', path: '/webhooks/0/name', value: 'other' }] }));
    expect(failed.code).toBe(422);
  });
});

describe('API-server emulator: core/v1 Secret validation', () => {
  it('stores stringData as base64 data, and refuses bad base64, bad keys, missing TLS keys and a type change', async () => {
    const s = await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'sd' }, stringData: { token: 'abc' } } });
    expect(s.data).toEqual({ token: Buffer.from('abc').toString('base64') });
    expect(s.stringData).toBeUndefined();
    expect(s.type).toBe('Opaque');
    expect((await apiFailure(() => core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'b64' }, data: { a: '%%%' } } }))).code).toBe(400);
    expect((await apiFailure(() => core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'key' }, data: { 'a/b': 'YQ==' } } }))).status.message).toMatch(/data\[a\/b\].*valid config key/);
    expect((await apiFailure(() => core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'tls' }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'YQ==' } } }))).status.message).toMatch(/data\[tls\.key\]: Required value/);
    expect((await apiFailure(() => core.replaceNamespacedSecret({ name: 'sd', namespace: 'default', body: { ...s, type: 'kubernetes.io/tls', data: { 'tls.crt': 'YQ==', 'tls.key': 'YQ==' } } }))).status.message).toMatch(/type.*immutable/);
  });
});
