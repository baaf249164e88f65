import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { defaultCertPolicy, planCerts } from '../operator/webhook/cert-plan.js';
import { buildCertSecret, certsFromSecret } from '../operator/webhook/cert-secret.js';
import { splitPem } from '../operator/webhook/certs.js';
import { serviceDnsNames } from '../operator/webhook/index.js';
import { getTestCluster, type TestCluster } from './support/kube.js';
import { waitUntil } from './operator/harness.js';
import type { OperatorProcess } from './operator/process.js';
import { httpsRequest, podReview, decodePatch } from './webhook/client.js';
import { boundClaim, CONFIG, installWebhookConfiguration, OPERATOR_NS, SECRET, SERVICE, spawnWebhookOperator } from './webhook/cluster.js';
import { ensureNamespace, installCrds } from './operator/harness.js';

const DAY = 24 * 3600_000;
const NAMES = serviceDnsNames(SERVICE, OPERATOR_NS, 'cluster.local');
let cluster: TestCluster;
let core: CoreV1Api;
let admission: AdmissionregistrationV1Api;
const replicas: { proc: OperatorProcess; port: number }[] = [];

async function startReplica(id: string): Promise<void> {
  replicas.push(await spawnWebhookOperator(cluster.kubeconfigPath, id));
}

const readSecret = () => core.readNamespacedSecret({ name: SECRET, namespace: OPERATOR_NS });
const caBundleOf = async () => Buffer.from((await admission.readMutatingWebhookConfiguration({ name: CONFIG })).webhooks![0]!.clientConfig.caBundle ?? '', 'base64').toString('utf8');
const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
/** The certificate a replica presents to a client that trusts `ca` and dials `host`. */
const served = async (port: number, ca: string, host = NAMES[0]!) => (await httpsRequest({ host, port, ca, method: 'GET', path: '/readyz' })).peer.fingerprint256;

/** Overwrite the Secret with certificates issued `agoMs` in the past (as if the operator had run since). */
async function ageSecret(agoMs: number) {
  const { certs } = await planCerts(undefined, defaultCertPolicy(NAMES), new Date(Date.now() - agoMs));
  const current = await readSecret();
  await core.replaceNamespacedSecret({ name: SECRET, namespace: OPERATOR_NS, body: { ...buildCertSecret({ namespace: OPERATOR_NS, secretName: SECRET }, certs), metadata: current.metadata } });
  return certs;
}

beforeAll(async () => {
  cluster = await getTestCluster();
  core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  admission = cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  await installCrds(cluster.kubeConfig);
  await installWebhookConfiguration(cluster.kubeConfig);
  await startReplica('replica-a');
  await startReplica('replica-b');
}, 60_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.proc.kill('SIGKILL')));
  await cluster?.stop();
});

describe('webhook certificate managed by the operator', () => {
  it('the leader creates a CA and serving certificate Secret and the caBundle; both replicas serve it for the Service DNS names', async () => {
    const secret = await waitUntil(async () => {
      const s = await readSecret();
      return s.data?.['tls.crt'] ? s : undefined;
    }, 20_000, 'webhook Secret');
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Object.keys(secret.data!).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    const config = await admission.readMutatingWebhookConfiguration({ name: CONFIG });
    expect(secret.metadata!.ownerReferences).toEqual([{ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', name: CONFIG, uid: config.metadata!.uid }]);
    const certs = certsFromSecret(secret)!;
    const ca = await waitUntil(async () => (await caBundleOf()) || undefined, 20_000, 'caBundle patched');
    expect(ca).toBe(certs.caBundle);
    // Verified the way the API server verifies: only the caBundle trusted, the Service name checked.
    for (const r of replicas) {
      await waitUntil(async () => (await served(r.port, ca)) === fingerprint(certs.cert), 20_000, `replica on ${r.port} serving`);
      for (const host of NAMES.slice(0, 2)) expect(await served(r.port, ca, host)).toBe(fingerprint(certs.cert));
      await expect(httpsRequest({ host: 'hoard-webhook.other-ns.svc', port: r.port, ca, method: 'GET', path: '/readyz' })).rejects.toThrow(/altnames|does not match/i);
    }
    const events = await core.listNamespacedEvent({ namespace: OPERATOR_NS });
    expect(events.items.some((e) => e.reason === 'CertificateCreated' && e.involvedObject.kind === 'Secret' && e.involvedObject.name === SECRET)).toBe(true);
    // Nothing is due: nobody rewrites the Secret or the configuration.
    const rv = [(await readSecret()).metadata!.resourceVersion, (await admission.readMutatingWebhookConfiguration({ name: CONFIG })).metadata!.resourceVersion];
    await new Promise((r) => setTimeout(r, 2000));
    expect([(await readSecret()).metadata!.resourceVersion, (await admission.readMutatingWebhookConfiguration({ name: CONFIG })).metadata!.resourceVersion]).toEqual(rv);
  });

  it('a replica patches pods read from a real review over HTTPS', async () => {
    await ensureNamespace(cluster.kubeConfig, 'wh-proc');
    await boundClaim(cluster.kubeConfig, 'wh-proc', 'ds', 'csi.hoard.dev');
    const ca = await caBundleOf();
    const pod = { spec: { containers: [{ name: 'c', image: 'x', volumeMounts: [{ name: 'd', mountPath: '/d' }] }], volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'ds' } }] } };
    for (const r of replicas) {
      const res = await httpsRequest({ host: NAMES[0]!, port: r.port, ca, body: JSON.stringify(podReview('wh-proc', pod)) });
      expect(decodePatch(res.body)).toEqual([{ op: 'add', path: '/spec/containers/0/volumeMounts/0/mountPropagation', value: 'HostToContainer' }]);
    }
  });

  it('renews a serving certificate past 80 % of its life, and every replica serves the new one without a restart', async () => {
    const aged = await ageSecret(300 * DAY);
    const pids = replicas.map((r) => r.proc.child.pid);
    const renewed = await waitUntil(async () => {
      const c = certsFromSecret(await readSecret())!;
      return c.cert !== aged.cert ? c : undefined;
    }, 20_000, 'serving certificate renewed');
    expect(renewed.caBundle).toBe(aged.caBundle); // same CA: nothing for the API server to learn
    const validTo = new Date(new X509Certificate(renewed.cert).validTo).getTime();
    expect(validTo).toBeGreaterThan(Date.now() + 360 * DAY);
    await waitUntil(async () => (await caBundleOf()) === aged.caBundle, 20_000, 'caBundle follows the Secret');
    for (const r of replicas) await waitUntil(async () => (await served(r.port, aged.caBundle)) === fingerprint(renewed.cert), 20_000, `replica on ${r.port} reloaded`);
    expect(replicas.map((r) => r.proc.child.pid)).toEqual(pids);
    expect(replicas.every((r) => r.proc.child.exitCode === null)).toBe(true);
    const events = await core.listNamespacedEvent({ namespace: OPERATOR_NS });
    expect(events.items.some((e) => e.reason === 'CertificateRenewed' && /serving certificate due for renewal/.test(e.message ?? ''))).toBe(true);
  });

  it('renews the CA near the end of its life: the caBundle holds both CAs, so calls verify before and after', async () => {
    const aged = await ageSecret(8.5 * 365 * DAY);
    const oldCa = splitPem(aged.caBundle)[0]!;
    const bundle = await waitUntil(async () => {
      const b = splitPem(await caBundleOf());
      return b.length === 2 ? b : undefined;
    }, 20_000, 'caBundle with two CAs').catch((e) => {
      console.log(replicas.map((r) => r.proc.stderr().split('\n').filter((l) => !l.includes('watch failed')).join('\n')).join('\n-----\n'));
      throw e;
    });
    expect(bundle[1]).toBe(oldCa);
    expect(bundle[0]).not.toBe(oldCa);
    const renewed = certsFromSecret(await readSecret())!;
    expect(renewed.caBundle).toBe(bundle.join(''));
    for (const r of replicas) await waitUntil(async () => (await served(r.port, bundle.join(''))) === fingerprint(renewed.cert), 20_000, `replica on ${r.port} reloaded`);
  });

  it('replaces a Secret someone recreated with another type and garbage in it', async () => {
    await core.deleteNamespacedSecret({ name: SECRET, namespace: OPERATOR_NS });
    await core.createNamespacedSecret({ namespace: OPERATOR_NS, body: { metadata: { name: SECRET }, type: 'Opaque', stringData: { 'tls.crt': 'garbage' } } });
    const fixed = await waitUntil(async () => {
      const s = await readSecret();
      return s.type === 'kubernetes.io/tls' ? s : undefined;
    }, 20_000, 'Secret recreated as kubernetes.io/tls');
    const certs = certsFromSecret(fixed)!;
    await waitUntil(async () => (await caBundleOf()) === certs.caBundle, 20_000, 'caBundle follows');
    for (const r of replicas) await waitUntil(async () => (await served(r.port, certs.caBundle)) === fingerprint(certs.cert), 20_000, `replica on ${r.port} reloaded`);
  });

  it('uninstalling the webhook configuration garbage-collects the Secret', async () => {
    await Promise.all(replicas.splice(0).map((r) => r.proc.kill('SIGKILL')));
    await admission.deleteMutatingWebhookConfiguration({ name: CONFIG });
    await waitUntil(async () => {
      try {
        await readSecret();
        return false;
      } catch (e) {
        return (e as { code?: number }).code === 404;
      }
    }, 20_000, 'Secret deleted with its owner');
  });
});
