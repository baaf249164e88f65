import type { V1Container, V1ResourceRequirements, V1StatefulSet, V1Toleration, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { parseSize } from '../../lib/units.js';
import type { CacheRuntime, Dataset } from '../api/types.js';
import type { BuildContext } from './context.js';
import { CREDENTIALS_ROOT, labels, MOUNTS_FILE, names, selectorLabels, WORKER_GRPC_PORT, WORKER_HTTP_PORT } from './names.js';
import { controllerRef } from './owner.js';
import { mebibytes } from './quantity.js';
import { planTiers, POD_UID_ENV } from './tiers.js';
import { ufsPodVolumes } from './ufs-volumes.js';

export const CONFIG_HASH_ANNOTATION = 'data.hoard.dev/config-hash';
const BASE_MEMORY = 256 * 2 ** 20;

/** Memory request/limit = what the user asked for (or a base) plus the MEM tier quota. */
function workerResources(rt: CacheRuntime, memTierBytes: number): V1ResourceRequirements {
  const user = rt.spec.worker?.resources ?? {};
  const requests: Record<string, string> = Object.fromEntries(Object.entries(user.requests ?? {}).map(([k, v]) => [k, String(v)]));
  const limits: Record<string, string> = Object.fromEntries(Object.entries(user.limits ?? {}).map(([k, v]) => [k, String(v)]));
  const reqBase = user.requests?.memory !== undefined ? parseSize(user.requests.memory, 'spec.worker.resources.requests.memory') : BASE_MEMORY;
  requests.memory = mebibytes(reqBase + memTierBytes);
  if (user.limits?.memory !== undefined) {
    limits.memory = mebibytes(parseSize(user.limits.memory, 'spec.worker.resources.limits.memory') + memTierBytes);
  }
  return Object.keys(limits).length > 0 ? { requests, limits } : { requests };
}

function workerArgs(rt: CacheRuntime, tierFlags: string[]): string[] {
  const args = [
    'worker',
    '--id', '$(POD_NAME)',
    '--listen', `0.0.0.0:${WORKER_GRPC_PORT}`,
    '--http', `0.0.0.0:${WORKER_HTTP_PORT}`,
    '--mounts-file', MOUNTS_FILE,
    ...tierFlags,
    '--page-size', rt.spec.pageSize ?? '1Mi',
    '--meta-ttl', rt.spec.metadataTTL ?? '5m',
  ];
  if (rt.spec.worker?.loadConcurrency) args.push('--load-concurrency', String(rt.spec.worker.loadConcurrency));
  return args;
}

function credentialVolumes(ds: Dataset): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  ds.spec.mounts.forEach((m, i) => {
    if (!m.credentials) return;
    const volumeName = `credentials-${i}`;
    volumes.push({ name: volumeName, secret: { secretName: m.credentials.secretRef.name, defaultMode: 0o400 } });
    mounts.push({ name: volumeName, mountPath: `${CREDENTIALS_ROOT}/${m.name}`, readOnly: true });
  });
  return { volumes, mounts };
}

/**
 * The cache workers. Pods are named <dataset>-worker-<i>; that stable name is the worker id and
 * its place on the hash ring, so a rescheduled pod keeps owning the same paths.
 */
export function buildWorkerStatefulSet(ds: Dataset, rt: CacheRuntime, ctx: BuildContext, configHash: string): V1StatefulSet {
  const { name, namespace } = ds.metadata;
  const tiers = planTiers(rt.spec.tieredStore.levels, ctx.kubeletDir);
  const creds = credentialVolumes(ds);
  const ufs = ufsPodVolumes(ds);
  const podLabels = labels(name, 'worker');
  const tolerations: V1Toleration[] = [...(ds.spec.tolerations ?? []), ...(rt.spec.worker?.tolerations ?? [])];
  const container: V1Container = {
    name: 'worker',
    image: rt.spec.worker?.image ?? ctx.image,
    imagePullPolicy: rt.spec.worker?.imagePullPolicy ?? ctx.imagePullPolicy ?? 'IfNotPresent',
    command: ['hoard'],
    args: workerArgs(rt, tiers.flags),
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: POD_UID_ENV, valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
    ],
    ports: [
      { name: 'grpc', containerPort: WORKER_GRPC_PORT, protocol: 'TCP' },
      { name: 'http', containerPort: WORKER_HTTP_PORT, protocol: 'TCP' },
    ],
    // A worker that exits says why in `kubectl describe` (and in the Dataset's condition).
    terminationMessagePolicy: 'FallbackToLogsOnError',
    readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, failureThreshold: 3 },
    livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 6 },
    resources: workerResources(rt, tiers.memoryBytes),
    volumeMounts: [{ name: 'mounts', mountPath: MOUNTS_FILE, subPath: 'mounts.json', readOnly: true }, ...tiers.mounts, ...creds.mounts, ...ufs.mounts],
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: names.workers(name), namespace, labels: podLabels, ownerReferences: [controllerRef(rt)] },
    spec: {
      serviceName: names.service(name),
      replicas: rt.spec.replicas ?? 1,
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'RollingUpdate' },
      selector: { matchLabels: selectorLabels(name, 'worker') },
      template: {
        metadata: { labels: podLabels, annotations: { [CONFIG_HASH_ANNOTATION]: configHash } },
        spec: {
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 30,
          containers: [container],
          volumes: [{ name: 'mounts', configMap: { name: names.mountsConfigMap(name) } }, ...tiers.volumes, ...creds.volumes, ...ufs.volumes],
          ...(rt.spec.worker?.nodeSelector ? { nodeSelector: { ...rt.spec.worker.nodeSelector } } : {}),
          ...(tolerations.length > 0 ? { tolerations } : {}),
          ...(ds.spec.nodeAffinity ? { affinity: { nodeAffinity: ds.spec.nodeAffinity as never } } : {}),
        },
      },
    },
  };
}
