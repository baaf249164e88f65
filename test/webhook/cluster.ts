import { AdmissionregistrationV1Api, CoreV1Api, StorageV1Api, type KubeConfig } from '@kubernetes/client-node';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../../lib/root.js';
import { ensureNamespace } from '../operator/harness.js';
import { spawnOperator, type OperatorProcess } from '../operator/process.js';
import { renderChart } from '../support/chart.js';

export const OPERATOR_NS = 'hoard-system';
export const SERVICE = 'hoard-webhook';
export const CONFIG = 'hoard-webhook';
export const SECRET = 'hoard-webhook-tls';

/** The chart's webhook objects as `helm template --namespace hoard-system` renders them. */
export function chartWebhookObjects(): { config: Record<string, any>; service: Record<string, any> } {
  const docs = renderChart(join(packageRoot(), 'charts/hoard'), { namespace: OPERATOR_NS }).flatMap((m) =>
    parseAllDocuments(m.text)
      .map((d) => d.toJSON() as Record<string, any> | null)
      .filter((d): d is Record<string, any> => d !== null),
  );
  const find = (kind: string) => {
    const o = docs.find((d) => d.kind === kind && d.metadata?.name === CONFIG);
    if (!o) throw new Error(`the chart renders no ${kind} ${CONFIG}`);
    return o;
  };
  return { config: find('MutatingWebhookConfiguration'), service: find('Service') };
}

/** The MutatingWebhookConfiguration the chart installs (no caBundle: the operator sets it). */
export function webhookConfiguration(): Record<string, any> {
  return structuredClone(chartWebhookObjects().config);
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

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** `hoard operator` serving the webhook on 127.0.0.1:<port> for the chart's Service, Secret and configuration names. */
export async function spawnWebhookOperator(kubeconfigPath: string, identity: string, extra: string[] = []): Promise<{ proc: OperatorProcess; port: number }> {
  const port = await freePort();
  const proc = await spawnOperator(kubeconfigPath, [
    '--identity', identity, '--lease-namespace', OPERATOR_NS, '--lease-duration', '3000', '--stats-interval', '60000',
    '--webhook-port', String(port), '--webhook-host', '127.0.0.1', '--webhook-namespace', OPERATOR_NS, '--webhook-cert-check-interval', '500',
    ...extra,
  ]);
  return { proc, port };
}
