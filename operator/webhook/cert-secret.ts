import { AdmissionregistrationV1Api, CoreV1Api, type KubeConfig, type V1MutatingWebhookConfiguration, type V1Secret } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { isSubset } from '../kube/compare.js';
import { describeError, isNotFound } from '../kube/errors.js';
import { planCerts, type CertPolicy, type WebhookCerts } from './cert-plan.js';
import type { JsonPatchOp } from './review.js';

/** Keys of the webhook's kubernetes.io/tls Secret. */
export const SECRET_KEYS = { cert: 'tls.crt', key: 'tls.key', caBundle: 'ca.crt', caKey: 'ca.key' } as const;

export interface CertSecretOptions {
  namespace: string;
  secretName: string;
  /** The MutatingWebhookConfiguration whose webhooks call our Service. */
  configName: string;
  serviceName: string;
  policy: CertPolicy;
  log: Logger;
  /** A Warning/Normal Event on the Secret (best effort). */
  event?(secret: V1Secret, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64').toString('utf8') : '');

export function certsFromSecret(s: V1Secret | undefined): WebhookCerts | undefined {
  const d = s?.data;
  if (!d) return undefined;
  return { cert: unb64(d[SECRET_KEYS.cert]), key: unb64(d[SECRET_KEYS.key]), caBundle: unb64(d[SECRET_KEYS.caBundle]), caKey: unb64(d[SECRET_KEYS.caKey]) };
}

const sameData = (a: Record<string, string> = {}, b: Record<string, string> = {}) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

/** The Secret as it should be: owned by the webhook configuration so uninstalling removes it. */
export function buildCertSecret(o: Pick<CertSecretOptions, 'namespace' | 'secretName'>, certs: WebhookCerts, owner?: V1MutatingWebhookConfiguration): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {
      name: o.secretName,
      namespace: o.namespace,
      labels: { 'app.kubernetes.io/name': 'hoard', 'app.kubernetes.io/component': 'webhook', 'app.kubernetes.io/managed-by': 'hoard-operator' },
      ...(owner?.metadata?.uid
        ? { ownerReferences: [{ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', name: owner.metadata.name!, uid: owner.metadata.uid }] }
        : {}),
    },
    data: {
      [SECRET_KEYS.cert]: b64(certs.cert),
      [SECRET_KEYS.key]: b64(certs.key),
      [SECRET_KEYS.caBundle]: b64(certs.caBundle),
      [SECRET_KEYS.caKey]: b64(certs.caKey),
    },
  };
}

/** JSON patch setting caBundle on every webhook that calls our Service; empty when all agree. */
export function caBundlePatch(config: V1MutatingWebhookConfiguration, service: { namespace: string; name: string }, caBundle: string): JsonPatchOp[] {
  const want = b64(caBundle);
  const ops: JsonPatchOp[] = [];
  (config.webhooks ?? []).forEach((w, i) => {
    const svc = w.clientConfig?.service;
    if (svc?.name !== service.name || svc.namespace !== service.namespace) return;
    if (w.clientConfig.caBundle === want) return;
    // The test guards against a concurrent reorder of the list between our read and write.
    ops.push({ op: 'test', path: `/webhooks/${i}/name`, value: w.name }, { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: want });
  });
  return ops;
}

/**
 * The leader's half of certificate management: keep the Secret holding a CA and a serving
 * certificate for the Service's DNS names (created, renewed before expiry), and the webhook
 * configuration's caBundle equal to the Secret's CA bundle. Idempotent; run it on a timer.
 * Every replica reads the same Secret to serve (readCerts).
 */
export class CertSecretReconciler {
  private readonly core: CoreV1Api;
  private readonly admission: AdmissionregistrationV1Api;
  private warnedMissingConfig = false;

  constructor(
    kc: KubeConfig,
    private readonly o: CertSecretOptions,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.admission = kc.makeApiClient(AdmissionregistrationV1Api);
  }

  async readSecret(): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ name: this.o.secretName, namespace: this.o.namespace });
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async readCerts(): Promise<WebhookCerts | undefined> {
    return certsFromSecret(await this.readSecret());
  }

  async reconcile(now = new Date()): Promise<WebhookCerts> {
    const config = await this.readConfig();
    const existing = await this.readSecret();
    const plan = await planCerts(certsFromSecret(existing), this.o.policy, now);
    const desired = buildCertSecret(this.o, plan.certs, config);
    const { object, action } = await this.write(existing, desired);
    if (plan.changed) {
      const message = `webhook certificate ${existing ? 'renewed' : 'created'}: ${plan.reason}`;
      this.o.log.info({ secret: `${this.o.namespace}/${this.o.secretName}`, action }, message);
      await this.o.event?.(object, 'Normal', existing ? 'CertificateRenewed' : 'CertificateCreated', message);
    }
    if (config) await this.patchCaBundle(config, plan.certs.caBundle);
    return plan.certs;
  }

  /**
   * Write the Secret only over the version the plan was made from: a create that finds one, or a
   * replace that finds a newer one, fails with 409 and the next check plans again from what is
   * there. (Re-reading and overwriting would undo a rotation someone else just made.)
   */
  private async write(existing: V1Secret | undefined, desired: V1Secret): Promise<{ object: V1Secret; action: 'created' | 'updated' | 'unchanged' }> {
    const { namespace, secretName: name } = this.o;
    if (!existing) return { object: await this.core.createNamespacedSecret({ namespace, body: desired }), action: 'created' };
    const md = existing.metadata ?? {};
    const same =
      existing.type === desired.type &&
      sameData(desired.data, existing.data) &&
      isSubset(desired.metadata?.labels, md.labels) &&
      isSubset(desired.metadata?.ownerReferences ?? [], md.ownerReferences ?? []);
    if (same) return { object: existing, action: 'unchanged' };
    if (existing.type !== desired.type) {
      // type is immutable: replace the object, on the condition that it is still the one we read.
      await this.core.deleteNamespacedSecret({ name, namespace, body: { preconditions: { resourceVersion: md.resourceVersion } } });
      return { object: await this.core.createNamespacedSecret({ namespace, body: desired }), action: 'created' };
    }
    const body: V1Secret = {
      ...desired,
      metadata: { ...md, labels: { ...md.labels, ...desired.metadata?.labels }, ownerReferences: desired.metadata?.ownerReferences ?? md.ownerReferences },
    };
    return { object: await this.core.replaceNamespacedSecret({ name, namespace, body }), action: 'updated' };
  }

  private async readConfig(): Promise<V1MutatingWebhookConfiguration | undefined> {
    try {
      const c = await this.admission.readMutatingWebhookConfiguration({ name: this.o.configName });
      this.warnedMissingConfig = false;
      return c;
    } catch (e) {
      if (!isNotFound(e)) throw e;
      if (!this.warnedMissingConfig) {
        this.o.log.warn({ config: this.o.configName }, 'MutatingWebhookConfiguration not found: the API server will not call the webhook (install it with the chart, or set --webhook-config)');
        this.warnedMissingConfig = true;
      }
      return undefined;
    }
  }

  private async patchCaBundle(config: V1MutatingWebhookConfiguration, caBundle: string): Promise<void> {
    const service = { namespace: this.o.namespace, name: this.o.serviceName };
    const ops = caBundlePatch(config, service, caBundle);
    if (!(config.webhooks ?? []).some((w) => w.clientConfig?.service?.name === service.name && w.clientConfig.service.namespace === service.namespace)) {
      this.o.log.warn({ config: this.o.configName, service: `${service.namespace}/${service.name}` }, 'no webhook in the configuration calls our Service; caBundle not set');
      return;
    }
    if (ops.length === 0) return;
    try {
      await this.admission.patchMutatingWebhookConfiguration({ name: this.o.configName, body: ops });
      this.o.log.info({ config: this.o.configName, webhooks: ops.length / 2 }, 'caBundle updated');
    } catch (e) {
      // A failed test op (the list changed under us) is fixed on the next run.
      this.o.log.warn({ config: this.o.configName, err: describeError(e) }, 'caBundle patch failed; retrying on the next check');
    }
  }
}
