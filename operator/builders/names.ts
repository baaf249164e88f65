/** Object names and labels the operator derives from a Dataset; one place so every builder agrees. */
export const WORKER_GRPC_PORT = 9400;
export const WORKER_HTTP_PORT = 9401;
export const MOUNTS_FILE = '/etc/hoard/mounts.json';
export const CREDENTIALS_ROOT = '/etc/hoard/credentials';

export const names = {
  workers: (dataset: string) => `${dataset}-worker`,
  service: (dataset: string) => `${dataset}-worker`,
  mountsConfigMap: (dataset: string) => `${dataset}-mounts`,
  csiSecret: (dataset: string) => `${dataset}-csi-credentials`,
  pv: (namespace: string, dataset: string) => `hoard-${namespace}-${dataset}`,
  pvc: (dataset: string) => dataset,
  storageClass: (namespace: string, dataset: string) => `hoard-${namespace}-${dataset}`,
  loader: (dataload: string) => `${dataload}-loader`,
  srv: (namespace: string, dataset: string, clusterDomain = 'cluster.local') =>
    `_grpc._tcp.${dataset}-worker.${namespace}.svc.${clusterDomain}`,
};

export type Component = 'worker' | 'loader' | 'volume' | 'config';

export function labels(dataset: string, component: Component): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'hoard',
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/instance': dataset,
    'app.kubernetes.io/managed-by': 'hoard-operator',
  };
}

/** The subset of labels used as a selector (managed-by is informational and may change). */
export function selectorLabels(dataset: string, component: Component): Record<string, string> {
  const { 'app.kubernetes.io/managed-by': _managedBy, ...rest } = labels(dataset, component);
  return rest;
}

export function selectorString(sel: Record<string, string>): string {
  return Object.entries(sel)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
