/**
 * Labels of the CSI node plugin's FUSE mount pods: the plugin selects its node's pods by them,
 * and the operator lists a Dataset's mount pods by them for its status.
 */
export const MOUNT_POD_LABELS = {
  name: 'app.kubernetes.io/name',
  component: 'app.kubernetes.io/component',
  instance: 'app.kubernetes.io/instance',
  datasetNamespace: 'data.hoard.dev/dataset-namespace',
  volume: 'data.hoard.dev/volume',
  node: 'data.hoard.dev/node',
} as const;
export const MOUNT_POD_COMPONENT = 'fuse';

/** Every mount pod, on any node, of any Dataset. */
export const MOUNT_POD_SELECTOR = `${MOUNT_POD_LABELS.name}=hoard,${MOUNT_POD_LABELS.component}=${MOUNT_POD_COMPONENT}`;

/** The mount pods of one Dataset. */
export function datasetMountPodSelector(namespace: string, name: string): string {
  return `${MOUNT_POD_SELECTOR},${MOUNT_POD_LABELS.instance}=${name},${MOUNT_POD_LABELS.datasetNamespace}=${namespace}`;
}
