import { AdmissionregistrationV1Api, CoreV1Api, StorageV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ensureNamespace } from '../operator/harness.js';

export const OPERATOR_NS = 'hoard-system';
export const SERVICE = 'hoard-webhook';
export const CONFIG = 'hoard-webhook';
export const SECRET = 'hoard-webhook-tls';

/** The MutatingWebhookConfiguration the chart installs (no caBundle: the operator sets it). */
export function webhookConfiguration(): Record<string, any> {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: CONFIG },
    webhooks: [
      {
        name: 'pods.data.hoard.dev',
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Ignore',
        timeoutSeconds: 5,
        reinvocationPolicy: 'IfNeeded',
        clientConfig: { service: { name: SERVICE, namespace: OPERATOR_NS, path: '/mutate-pods', port: 443 } },
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
        namespaceSelector: { matchLabels: { 'data.hoard.dev/inject': 'enabled' } },
        objectSelector: { matchExpressions: [{ key: 'data.hoard.dev/inject', operator: 'NotIn', values: ['disabled'] }] },
      },
    ],
  };
}

export async function installWebhookConfiguration(kc: KubeConfig, body = webhookConfiguration()): Promise<void> {
  await ensureNamespace(kc, OPERATOR_NS);
  await kc.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({ body: body as never });
}

/** A PV of `driver` and a PVC bound to it, in `namespace`. */
export async function boundClaim(kc: KubeConfig, namespace: string, name: string, driver: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const pv = `${namespace}-${name}`;
  await core.createPersistentVolume({
    body: {
      metadata: { name: pv },
      spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadOnlyMany'], storageClassName: '', csi: { driver, volumeHandle: pv }, claimRef: { namespace, name } },
    },
  });
  await core.createNamespacedPersistentVolumeClaim({
    namespace,
    body: { metadata: { name }, spec: { accessModes: ['ReadOnlyMany'], storageClassName: '', volumeName: pv, resources: { requests: { storage: '1Gi' } } } },
  });
}

/** A PVC of a storage class, not bound to anything yet. */
export async function pendingClaim(kc: KubeConfig, namespace: string, name: string, storageClassName: string): Promise<void> {
  await kc.makeApiClient(CoreV1Api).createNamespacedPersistentVolumeClaim({
    namespace,
    body: { metadata: { name }, spec: { accessModes: ['ReadOnlyMany'], storageClassName, resources: { requests: { storage: '1Gi' } } } },
  });
}

export async function storageClass(kc: KubeConfig, name: string, provisioner: string): Promise<void> {
  await kc.makeApiClient(StorageV1Api).createStorageClass({ body: { metadata: { name }, provisioner } });
}
