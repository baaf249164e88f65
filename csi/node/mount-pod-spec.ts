import type { V1Pod, V1ResourceRequirements, V1Secret } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { MOUNT_POD_COMPONENT, MOUNT_POD_LABELS as LABELS, MOUNT_POD_SELECTOR } from '../../lib/mount-pod-labels.js';
import type { MountSpec } from '../../lib/mounts.js';
import type { VolumeConfig } from '../server/validation.js';
import { mountArgs } from './fuse-process.js';

/** Where the mount pod finds its volume Secret (mount table + credential files). */
export const MOUNT_POD_SECRET_DIR = '/etc/hoard/volume';
export const VOLUME_ID_ANNOTATION = 'data.hoard.dev/volume-id';
/** Where the plugin binds the pod's mount: a stray pod whose staging path is not bound to it is garbage. */
export const STAGING_PATH_ANNOTATION = 'data.hoard.dev/staging-path';

const sha = (s: string, n: number) => createHash('sha256').update(s).digest('hex').slice(0, n);

/** A stable, label-safe digest of a volume id (ids may hold '/' and run to 256 characters). */
export function volumeHash(volumeId: string): string {
  return sha(volumeId, 20);
}

/** A label value for s: s itself when it is one (<= 63, alphanumeric ends), else a digest of it. */
export function labelValue(s: string): string {
  return s.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(s) ? s : `h-${sha(s, 40)}`;
}

/**
 * The mount pod's name: readable from the volume id, unique per (volume, node) by a digest, a DNS
 * label (<= 63). The same volume on the same node always maps to the same pod, which is what lets
 * a restarted plugin (or a repeated NodeStageVolume) find the pod instead of creating a second.
 */
export function mountPodName(volumeId: string, nodeName: string): string {
  const slug = volumeId.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 34).replace(/-+$/, '');
  return `hoard-fuse-${slug ? `${slug}-` : ''}${sha(`${volumeId}\0${nodeName}`, 16)}`;
}

/** Labels selecting this node's mount pods (the plugin's adopt / garbage-collect query). */
export function nodeSelector(nodeName: string): string {
  return `${MOUNT_POD_SELECTOR},${LABELS.node}=${labelValue(nodeName)}`;
}

export interface MountPodInput {
  volumeId: string;
  nodeName: string;
  /** The plugin's namespace (the chart's): mount pods and their Secrets live there. */
  namespace: string;
  image: string;
  imagePullPolicy?: string;
  /** '' leaves the pod without a priority class. */
  priorityClassName: string;
  /** The per-volume host directory; the FUSE mount appears at fsDir(hostDir). */
  hostDir: string;
  stagingPath: string;
  config: VolumeConfig;
  resources?: V1ResourceRequirements;
  secretName: string;
  /** Credential fields per mount name (no values): the Secret keys the pod maps to files. */
  credentialFields: Record<string, string[]>;
}

/** The FUSE mount point inside the per-volume host directory (a sub-directory, so the mount sits inside the Bidirectional volume and propagates). */
export function fsDir(hostDir: string): string {
  return join(hostDir, 'fs');
}

export function mountPodLabels(input: Pick<MountPodInput, 'volumeId' | 'nodeName' | 'config'>): Record<string, string> {
  return {
    [LABELS.name]: 'hoard',
    [LABELS.component]: MOUNT_POD_COMPONENT,
    [LABELS.instance]: input.config.dataset,
    [LABELS.datasetNamespace]: input.config.namespace,
    [LABELS.volume]: volumeHash(input.volumeId),
    [LABELS.node]: labelValue(input.nodeName),
  };
}

/**
 * The mount pod of one volume on one node: `hoard mount` in the Hoard image, pinned to the node,
 * privileged (it opens /dev/fuse and mounts), writing its FUSE mount into a host directory with
 * Bidirectional propagation so the node plugin sees it and binds it to the staging path. The
 * kubelet restarts it when it dies (restartPolicy Always); nothing owns it, because nothing
 * namespaced in the plugin's namespace lives exactly as long as the staging: the plugin deletes it
 * at NodeUnstageVolume and garbage-collects strays by label.
 */
export function buildMountPod(input: MountPodInput): V1Pod {
  const secretMount = `${MOUNT_POD_SECRET_DIR}/mounts.json`;
  const args = mountArgs({ stagingPath: fsDir(input.hostDir), mountsFile: secretMount, config: input.config });
  const items = secretItems(input.credentialFields);
  const data = dataVolumes(input.config);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: mountPodName(input.volumeId, input.nodeName),
      namespace: input.namespace,
      labels: mountPodLabels(input),
      annotations: { [VOLUME_ID_ANNOTATION]: input.volumeId, [STAGING_PATH_ANNOTATION]: input.stagingPath },
    },
    spec: {
      nodeName: input.nodeName,
      restartPolicy: 'Always',
      ...(input.priorityClassName ? { priorityClassName: input.priorityClassName } : {}),
      // Pinned by nodeName: the scheduler is bypassed, but taints still evict; a mount pod must
      // stay as long as pods on the node read through it.
      tolerations: [{ operator: 'Exists' }],
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 30,
      containers: [
        {
          name: 'fuse',
          image: input.image,
          ...(input.imagePullPolicy ? { imagePullPolicy: input.imagePullPolicy } : {}),
          command: ['hoard'],
          args,
          securityContext: { privileged: true },
          // A crash's last log lines become lastState.terminated.message, which the plugin puts in
          // its errors and Events: "exit 1" alone tells a user nothing.
          terminationMessagePolicy: 'FallbackToLogsOnError',
          ...(input.resources ? { resources: input.resources } : {}),
          volumeMounts: [
            { name: 'mount-dir', mountPath: input.hostDir, mountPropagation: 'Bidirectional' },
            { name: 'volume', mountPath: MOUNT_POD_SECRET_DIR, readOnly: true },
            ...data.map((d) => ({ name: d.name, mountPath: d.mountPath, readOnly: true })),
          ],
        },
      ],
      volumes: [
        { name: 'mount-dir', hostPath: { path: input.hostDir, type: 'DirectoryOrCreate' } },
        { name: 'volume', secret: { secretName: input.secretName, defaultMode: 0o400, items } },
        ...data.map((d) => ({ name: d.name, ...d.source })),
      ],
    },
  };
}

/**
 * The read-only data volumes of file:// mounts (a host path, an NFS export), mounted where the
 * mount table says, so the pod's direct-UFS fallback reads them as the workers do. A PVC lives in
 * the Dataset's namespace, which a mount pod cannot mount from: such mounts are read through the
 * workers only.
 */
function dataVolumes(config: VolumeConfig): NonNullable<MountSpec['volume']>[] {
  const out: NonNullable<MountSpec['volume']>[] = [];
  for (const m of config.mounts.mounts) {
    const v = m.volume;
    if (!v || 'persistentVolumeClaim' in v.source || v.name === 'mount-dir' || v.name === 'volume') continue;
    out.push(v);
  }
  return out;
}

/** Secret key of a credential: `<mount>.<field>` (keys may not hold '/'; items map them to files). */
const credKey = (mount: string, field: string) => `${mount}.${field}`;

function secretItems(fields: Record<string, string[]>): { key: string; path: string }[] {
  const items = [{ key: 'mounts.json', path: 'mounts.json' }];
  for (const [mount, names] of Object.entries(fields)) {
    for (const field of names) items.push({ key: credKey(mount, field), path: `credentials/${mount}/${field}` });
  }
  return items;
}

/** The credential field names per mount (what the pod's Secret volume maps), without values. */
export function credentialFields(credentials: Map<string, Record<string, string>>): Record<string, string[]> {
  return Object.fromEntries([...credentials].map(([mount, creds]) => [mount, Object.keys(creds).sort()]));
}

/**
 * The mount pod's Secret: its mount table, whose credentialsDir entries are relative to the table
 * (`credentials/<mount>`), and the NodeStageVolume secrets as `<mount>.<field>` keys. Credentials
 * reach the pod as files only: never in args, env literals or a ConfigMap.
 */
export function buildMountSecret(input: Pick<MountPodInput, 'volumeId' | 'nodeName' | 'namespace' | 'config' | 'secretName'>, credentials: Map<string, Record<string, string>>): V1Secret {
  const mounts = input.config.mounts.mounts.map((m) => {
    const { credentialsDir: _elsewhere, ...spec } = m;
    return credentials.has(m.name) ? { ...spec, credentialsDir: `credentials/${m.name}` } : spec;
  });
  const data: Record<string, string> = { 'mounts.json': Buffer.from(`${JSON.stringify({ mounts }, null, 2)}\n`).toString('base64') };
  for (const [mount, creds] of credentials) {
    for (const [field, value] of Object.entries(creds)) data[credKey(mount, field)] = Buffer.from(value).toString('base64');
  }
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name: input.secretName, namespace: input.namespace, labels: mountPodLabels(input), annotations: { [VOLUME_ID_ANNOTATION]: input.volumeId } },
    data,
  };
}
