import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdmissionregistrationV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { INJECT_LABEL } from '../operator/webhook/index.js';
import { startApiServer, type ApiServer } from './support/apiserver/index.js';
import { apiFailure, applyManifests } from './support/kube.js';
import { ensureNamespace, installCrds, waitUntil } from './operator/harness.js';
import type { OperatorProcess } from './operator/process.js';
import { httpsRequest } from './webhook/client.js';
import { boundClaim, chartWebhookObjects, CONFIG, OPERATOR_NS, SERVICE, spawnWebhookOperator } from './webhook/cluster.js';

/**
 * End to end through the API server: the chart's MutatingWebhookConfiguration and Service, the
 * operator's own webhook server with the certificate it generates and the caBundle it writes,
 * and pods created with an ordinary client. The emulator calls the webhook as kube-apiserver
 * does (HTTPS verified for hoard-webhook.hoard-system.svc), so this fails if any link is wrong:
 * rules, selectors, path, port, certificate names, caBundle, the review or the patch.
 */

const IN = 'wh-opted-in';
const OUT = 'wh-not-opted-in';
const HOST = `${SERVICE}.${OPERATOR_NS}.svc`;

let api: ApiServer;
let core: CoreV1Api;
let operator: { proc: OperatorProcess; port: number } | undefined;

const pod = (name: string, volumes: Record<string, unknown>[], labels?: Record<string, string>): V1Pod => ({
  metadata: { name, ...(labels ? { labels } : {}) },
  spec: {
    containers: [
      {
        name: 'reader',
        image: 'busybox',
        volumeMounts: volumes.map((v) => ({ name: String(v.name), mountPath: `/${String(v.name)}`, readOnly: true })),
      },
    ],
    volumes: volumes as never,
  },
});
const dataset = { name: 'data', persistentVolumeClaim: { claimName: 'imagenet' } };
const scratch = { name: 'scratch', emptyDir: {} };
const propagation = (p: V1Pod) => Object.fromEntries((p.spec!.containers[0]!.volumeMounts ?? []).map((m) => [m.name, m.mountPropagation]));

beforeAll(async () => {
  api = await startApiServer();
  core = api.kubeConfig.makeApiClient(CoreV1Api);
  await installCrds(api.kubeConfig);
  await ensureNamespace(api.kubeConfig, OPERATOR_NS);
  const { config, service } = chartWebhookObjects();
  await applyManifests(api.kubeConfig, [service, config], OPERATOR_NS);
  for (const ns of [IN, OUT]) {
    await core.createNamespace({ body: { metadata: { name: ns, labels: ns === IN ? { [INJECT_LABEL]: 'enabled' } : {} } } });
    await boundClaim(api.kubeConfig, ns, 'imagenet', 'csi.hoard.dev');
  }
  operator = await spawnWebhookOperator(api.kubeconfigPath, 'webhook-e2e');
  // kube-proxy's part: the Service's port 443 leads to the operator's webhook port.
  api.services.route({ namespace: OPERATOR_NS, name: SERVICE, port: 443 }, { host: '127.0.0.1', port: operator.port });
  const admission = api.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const ca = await waitUntil(
    async () => {
      const b = (await admission.readMutatingWebhookConfiguration({ name: CONFIG })).webhooks![0]!.clientConfig.caBundle;
      return b ? Buffer.from(b, 'base64').toString('utf8') : undefined;
    },
    30_000,
    'the operator writes the caBundle',
  );
  await waitUntil(async () => (await httpsRequest({ host: HOST, port: operator!.port, ca, method: 'GET', path: '/readyz' }).catch(() => undefined))?.status === 200, 30_000, 'webhook serving');
}, 90_000);

afterAll(async () => {
  await operator?.proc.kill('SIGKILL');
  await api?.stop();
});

describe('the operator webhook, called by the API server for pods created through it', () => {
  it('adds mountPropagation: HostToContainer to the Hoard volume mount of a pod in an opted-in namespace, and only there', async () => {
    const created = await core.createNamespacedPod({ namespace: IN, body: pod('reader', [dataset, scratch]) });
    expect(propagation(created)).toEqual({ data: 'HostToContainer', scratch: undefined });
    const stored = await core.readNamespacedPod({ namespace: IN, name: 'reader' });
    expect(propagation(stored)).toEqual({ data: 'HostToContainer', scratch: undefined });
  });

  it('leaves alone a pod in a namespace without the label, a pod with no Hoard volume, and a pod that opts out', async () => {
    const elsewhere = await core.createNamespacedPod({ namespace: OUT, body: pod('reader', [dataset]) });
    expect(propagation(elsewhere)).toEqual({ data: undefined });
    const noHoard = await core.createNamespacedPod({ namespace: IN, body: pod('scratch-only', [scratch]) });
    expect(noHoard.spec!.containers[0]!.volumeMounts).toEqual([{ name: 'scratch', mountPath: '/scratch', readOnly: true }]);
    const optedOut = await core.createNamespacedPod({ namespace: IN, body: pod('opted-out', [dataset], { [INJECT_LABEL]: 'disabled' }) });
    expect(propagation(optedOut)).toEqual({ data: undefined });
  });

  it('with the webhook server stopped, failurePolicy Ignore lets pods through unchanged (and Fail would refuse them)', async () => {
    await operator!.proc.kill('SIGKILL');
    operator = undefined;
    const through = await core.createNamespacedPod({ namespace: IN, body: pod('while-down', [dataset]) });
    expect(propagation(through)).toEqual({ data: undefined });
    // The same outage under failurePolicy Fail: proof the API server did try to call it.
    const admission = api.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    const config = await admission.readMutatingWebhookConfiguration({ name: CONFIG });
    config.webhooks![0]!.failurePolicy = 'Fail';
    await admission.replaceMutatingWebhookConfiguration({ name: CONFIG, body: config });
    const refused = await apiFailure(() => core.createNamespacedPod({ namespace: IN, body: pod('refused', [dataset]) }));
    expect(refused.code).toBe(500);
    expect(refused.status.message).toMatch(
      new RegExp(`^Internal error occurred: failed calling webhook "pods\\.data\\.hoard\\.dev": failed to call webhook: Post "https://${HOST.replace(/\./g, '\\.')}:443/mutate-pods\\?timeout=5s": dial tcp 127\\.0\\.0\\.1:\\d+: connect: connection refused$`),
    );
  });
});
