import { CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod, type V1ResourceRequirements } from '@kubernetes/client-node';
import { rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_HOST_PATH_ALLOW, hostPathPolicy, type HostPathPolicy } from '../../lib/host-paths.js';
import { recordEvent } from '../../lib/kube-events.js';
import { describeError, isConflict, isNotFound } from '../../lib/kube-errors.js';
import type { Logger } from '../../lib/log.js';
import type { VolumeConfig } from '../server/validation.js';
import { vetHostPaths } from './host-path-check.js';
import { mountAt, probePath, unmountAll } from './mounter.js';
import {
  buildMountPod,
  buildMountSecret,
  credentialFields,
  fsDir,
  mountPodName,
  nodeSelector,
  STAGING_PATH_ANNOTATION,
  VOLUME_ID_ANNOTATION,
  volumeHash,
} from './mount-pod-spec.js';

export interface MountPodsOptions {
  kubeConfig: KubeConfig;
  /** The plugin's namespace: mount pods and their Secrets live there. */
  namespace: string;
  nodeName: string;
  image: string;
  imagePullPolicy?: string;
  /** '' for none. */
  priorityClassName: string;
  /** Host directory holding one sub-directory per volume, under the kubelet dir (Bidirectional in the plugin). */
  mountRoot: string;
  /** How long NodeStageVolume waits for the FUSE mount of a new mount pod (default 60 s). */
  readyTimeoutMs?: number;
  /** Which host paths a volume context may hand a mount pod (default: /srv, the kubelet dir refused). */
  hostPaths?: HostPathPolicy;
  logger: Logger;
}

export interface MountPodRef {
  name: string;
  uid?: string;
  image?: string;
  /** Container restarts already reported (Events are sent for new ones only). */
  restarts: number;
}

const COMPONENT = 'hoard-csi-node';
const GROUP = 'data.hoard.dev';
const VERSION = 'v1alpha1';

/**
 * The Kubernetes side of pod mode: one mount pod per staged volume on this node, created,
 * adopted, described and deleted through the API server. The FUSE mount it serves appears at
 * fsPath(volumeId) on the host (Bidirectional propagation), which the VolumeManager binds to the
 * staging path.
 */
export class MountPods {
  readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly log: Logger;

  constructor(readonly opts: MountPodsOptions) {
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.custom = opts.kubeConfig.makeApiClient(CustomObjectsApi);
    this.log = opts.logger;
  }

  /** Refuses (INVALID_ARGUMENT) a volume context naming a host path the operator's rule refuses. */
  vetHostPaths(config: VolumeConfig): Promise<void> {
    const policy = this.opts.hostPaths ?? hostPathPolicy(DEFAULT_HOST_PATH_ALLOW);
    return vetHostPaths(config, policy, async () => ((await this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: 'cacheruntimes' })) as { items?: unknown[] }).items ?? []);
  }

  hostDir(volumeId: string): string {
    return join(this.opts.mountRoot, volumeHash(volumeId));
  }

  fsPath(volumeId: string): string {
    return fsDir(this.hostDir(volumeId));
  }

  podName(volumeId: string): string {
    return mountPodName(volumeId, this.opts.nodeName);
  }

  async get(name: string): Promise<V1Pod | undefined> {
    try {
      return await this.core.readNamespacedPod({ name, namespace: this.opts.namespace });
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** This node's mount pods, by label. */
  async listOnNode(): Promise<V1Pod[]> {
    return (await this.core.listNamespacedPod({ namespace: this.opts.namespace, labelSelector: nodeSelector(this.opts.nodeName) })).items;
  }

  /**
   * Ensures the volume's mount pod exists: an existing one is adopted as it is (even on another
   * image: an upgrade never replaces a pod that serves readers); a terminating one is waited out;
   * otherwise the pod is created with the current image, then its Secret, owned by the pod so the
   * garbage collector removes it with the pod.
   */
  async ensure(volumeId: string, stagingPath: string, config: VolumeConfig, credentials: Map<string, Record<string, string>>): Promise<MountPodRef> {
    const name = this.podName(volumeId);
    let pod = await this.get(name);
    if (pod?.metadata?.deletionTimestamp) {
      this.log.info({ volumeId, pod: name }, 'mount pod is terminating; waiting for it to go before creating a new one');
      pod = await this.waitGone(name, 45_000);
    }
    if (pod) {
      if (pod.spec?.containers?.[0]?.image !== this.opts.image) {
        this.log.info({ volumeId, pod: name, image: pod.spec?.containers?.[0]?.image, current: this.opts.image }, 'adopting a mount pod on another image; it keeps running until the volume is unstaged');
      } else this.log.info({ volumeId, pod: name }, 'adopting the existing mount pod');
      await this.ensureSecret(pod, volumeId, config, credentials);
      return ref(pod);
    }
    const desired = buildMountPod({
      volumeId,
      nodeName: this.opts.nodeName,
      namespace: this.opts.namespace,
      image: this.opts.image,
      imagePullPolicy: this.opts.imagePullPolicy,
      priorityClassName: this.opts.priorityClassName,
      hostDir: this.hostDir(volumeId),
      stagingPath,
      config,
      resources: await this.fuseResources(config),
      secretName: name,
      credentialFields: credentialFields(credentials),
    });
    try {
      pod = await this.core.createNamespacedPod({ namespace: this.opts.namespace, body: desired });
      this.log.info({ volumeId, pod: name, image: this.opts.image }, 'mount pod created');
      await this.event(pod, 'Normal', 'MountPodCreated', `mount pod for volume ${volumeId} (dataset ${config.namespace}/${config.dataset}) on node ${this.opts.nodeName}, image ${this.opts.image}`);
    } catch (e) {
      if (!isConflict(e)) throw e;
      pod = (await this.get(name))!; // created by a racing call: adopt it
    }
    await this.ensureSecret(pod, volumeId, config, credentials);
    return ref(pod);
  }

  /** The Secret the pod mounts: created or brought up to date, owned by this pod. */
  private async ensureSecret(pod: V1Pod, volumeId: string, config: VolumeConfig, credentials: Map<string, Record<string, string>>): Promise<void> {
    const name = pod.metadata!.name!;
    const body = buildMountSecret({ volumeId, nodeName: this.opts.nodeName, namespace: this.opts.namespace, config, secretName: name }, credentials);
    body.metadata!.ownerReferences = [{ apiVersion: 'v1', kind: 'Pod', name, uid: pod.metadata!.uid!, blockOwnerDeletion: false }];
    try {
      await this.core.createNamespacedSecret({ namespace: this.opts.namespace, body });
    } catch (e) {
      if (!isConflict(e)) throw e;
      const existing = await this.core.readNamespacedSecret({ name, namespace: this.opts.namespace });
      if (JSON.stringify(existing.data) === JSON.stringify(body.data) && existing.metadata?.ownerReferences?.[0]?.uid === pod.metadata!.uid) return;
      body.metadata!.resourceVersion = existing.metadata?.resourceVersion;
      await this.core.replaceNamespacedSecret({ name, namespace: this.opts.namespace, body });
    }
  }

  /**
   * Waits until the pod's FUSE mount is live at fsPath (bounded); the error carries the pod's
   * phase, container state and last termination message, which is what a user needs to act.
   */
  async waitLive(volumeId: string, timeoutMs = this.opts.readyTimeoutMs ?? 60_000): Promise<void> {
    const path = this.fsPath(volumeId);
    const name = this.podName(volumeId);
    const until = Date.now() + timeoutMs;
    let lastPodCheck = 0;
    while (Date.now() < until) {
      if (await this.isLive(path)) return;
      if (Date.now() - lastPodCheck > 2000) {
        lastPodCheck = Date.now();
        if (!(await this.get(name))) throw new Error(`mount pod ${this.opts.namespace}/${name} was deleted before its FUSE mount came up`);
      }
      await sleep(200);
    }
    throw new Error(`mount pod ${this.opts.namespace}/${name} did not mount ${path} within ${Math.round(timeoutMs / 1000)} s: ${describePod(await this.get(name).catch(() => undefined))}`);
  }

  /** A FUSE mount at path that answers a stat. */
  async isLive(path: string): Promise<boolean> {
    const entry = await mountAt(path);
    return !!entry && entry.fsType.startsWith('fuse') && (await probePath(path, 3000)).health === 'ok';
  }

  /** Deletes the mount pod and its Secret, then clears the host directory once the mount is gone. */
  async remove(volumeId: string): Promise<void> {
    const name = this.podName(volumeId);
    const ns = this.opts.namespace;
    await this.core.deleteNamespacedPod({ name, namespace: ns }).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
    await this.core.deleteNamespacedSecret({ name, namespace: ns }).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
    // The pod unmounts on SIGTERM; whatever is left (a killed pod, a dead mount) is detached here.
    const path = this.fsPath(volumeId);
    const until = Date.now() + 35_000;
    let goneAt: number | undefined;
    while (Date.now() < until && (await mountAt(path))) {
      if (!(await this.get(name))) goneAt ??= Date.now();
      if (goneAt !== undefined && Date.now() - goneAt > 5000) break;
      await sleep(200);
    }
    await unmountAll(path, true);
    await rmdir(path).catch(() => undefined);
    await rmdir(this.hostDir(volumeId)).catch(() => undefined);
    this.log.info({ volumeId, pod: name }, 'mount pod deleted');
  }

  /**
   * Deletes this node's mount pods that no staged volume owns: left by a plugin that crashed
   * between creating a pod and recording it, or during an unstage. A pod whose staging path is
   * still bound to its mount is left alone even without a record (a lost state dir must not cut
   * readers off).
   */
  async collectStrays(stagedVolumeIds: Set<string>): Promise<void> {
    for (const pod of await this.listOnNode()) {
      const volumeId = pod.metadata?.annotations?.[VOLUME_ID_ANNOTATION];
      if (!volumeId || stagedVolumeIds.has(volumeId) || pod.metadata?.deletionTimestamp) continue;
      const staging = pod.metadata?.annotations?.[STAGING_PATH_ANNOTATION];
      const live = await mountAt(this.fsPath(volumeId));
      const bound = staging ? await mountAt(staging) : undefined;
      if (live && bound && live.dev === bound.dev) {
        this.log.warn({ pod: pod.metadata!.name, volumeId, staging }, 'mount pod serves a staging path this plugin has no record of; leaving it for NodeUnstageVolume');
        continue;
      }
      this.log.warn({ pod: pod.metadata!.name, volumeId }, 'deleting a mount pod no staged volume uses');
      await this.remove(volumeId);
    }
  }

  /** spec.fuse.resources of the volume's CacheRuntime, if it can be read (best effort). */
  private async fuseResources(config: VolumeConfig): Promise<V1ResourceRequirements | undefined> {
    try {
      const rt = (await this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: config.namespace, plural: 'cacheruntimes', name: config.dataset })) as {
        spec?: { fuse?: { resources?: V1ResourceRequirements } };
      };
      return rt.spec?.fuse?.resources;
    } catch (e) {
      this.log.warn({ dataset: `${config.namespace}/${config.dataset}`, err: describeError(e) }, 'cannot read the CacheRuntime; the mount pod gets no resource requests or limits');
      return undefined;
    }
  }

  /** An Event on the mount pod. */
  event(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const md = pod.metadata!;
    return recordEvent(this.core, this.log, COMPONENT, { apiVersion: 'v1', kind: 'Pod', name: md.name!, namespace: md.namespace!, uid: md.uid }, type, reason, message);
  }

  /** An Event on the Dataset a volume belongs to (looked up for its uid, so `kubectl describe dataset` lists it). */
  async datasetEvent(config: VolumeConfig, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    let uid: string | undefined;
    try {
      const ds = (await this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: config.namespace, plural: 'datasets', name: config.dataset })) as { metadata?: { uid?: string } };
      uid = ds.metadata?.uid;
    } catch (e) {
      this.log.debug({ err: describeError(e) }, 'cannot read the Dataset for its uid');
    }
    await recordEvent(this.core, this.log, COMPONENT, { apiVersion: `${GROUP}/${VERSION}`, kind: 'Dataset', name: config.dataset, namespace: config.namespace, uid }, type, reason, message);
  }

  private async waitGone(name: string, timeoutMs: number): Promise<V1Pod | undefined> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const pod = await this.get(name);
      if (!pod || !pod.metadata?.deletionTimestamp) return pod;
      if (Date.now() > until) throw new Error(`mount pod ${this.opts.namespace}/${name} is still terminating after ${timeoutMs / 1000} s: ${describePod(pod)}`);
      await sleep(500);
    }
  }
}

export function ref(pod: V1Pod): MountPodRef {
  return { name: pod.metadata!.name!, uid: pod.metadata!.uid, image: pod.spec?.containers?.[0]?.image, restarts: restartsOf(pod) };
}

export function restartsOf(pod: V1Pod): number {
  return pod.status?.containerStatuses?.[0]?.restartCount ?? 0;
}

/** Phase, container state and last termination of a mount pod, in one line for errors and Events. */
export function describePod(pod: V1Pod | undefined): string {
  if (!pod) return 'the pod does not exist';
  const parts = [`phase ${pod.status?.phase ?? 'Unknown'}`];
  const cs = pod.status?.containerStatuses?.[0];
  if (cs) {
    const st = cs.state ?? {};
    if (st.waiting) parts.push(`container waiting (${st.waiting.reason ?? ''}${st.waiting.message ? `: ${st.waiting.message}` : ''})`);
    if (st.running) parts.push('container running');
    if (st.terminated) parts.push(`container terminated (exit ${st.terminated.exitCode}, ${st.terminated.reason ?? ''}${st.terminated.message ? `: ${st.terminated.message}` : ''})`);
    parts.push(`restarts ${cs.restartCount ?? 0}`);
    const last = cs.lastState?.terminated;
    if (last) parts.push(`last termination: exit ${last.exitCode} ${last.reason ?? ''}${last.message ? `: ${last.message.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
  } else {
    const sched = pod.status?.conditions?.find((c) => c.status !== 'True' && c.message);
    if (sched) parts.push(`${sched.type}: ${sched.message}`);
  }
  return parts.join('; ');
}

