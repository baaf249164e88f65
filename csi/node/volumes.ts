import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, rmdir, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../../lib/log.js';
import { alreadyExists, failedPrecondition, internal, invalidArgument, notFound, unavailable } from '../server/errors.js';
import type { Capability, VolumeConfig } from '../server/validation.js';
import { findServingProcesses, isChildAlive, spawnFuseChild, stopFuseChild } from './fuse-process.js';
import { KeyedLock } from './keyed-lock.js';
import { describePod, restartsOf, type MountPods } from './mount-pods.js';
import { bindMount, mountAt, probePath, readMountInfo, unmountAll, type MountEntry } from './mounter.js';
import { StateStore, type PublishRecord, type VolumeRecord } from './state.js';
import { readVolumeCredentials, removeVolumeFiles, writeVolumeFiles } from './volume-files.js';

const run = promisify(execFile);

export interface VolumeManagerOptions {
  stateDir: string;
  logger: Logger;
  /** Program + leading args standing for `hoard` when spawning FUSE children. */
  childCommand?: string[];
  readyTimeoutMs?: number;
  /** Pod mode: FUSE runs in a mount pod per volume, bound to the staging path; unset = process mode. */
  mountPods?: MountPods;
}

export interface StageInput {
  volumeId: string;
  stagingPath: string;
  capability: Capability;
  config: VolumeConfig;
  credentials: Map<string, Record<string, string>>;
}

export interface PublishInput {
  volumeId: string;
  stagingPath: string;
  targetPath: string;
  capability: Capability;
  readOnly: boolean;
  subPath: string;
}

export interface VolumeHealth {
  abnormal: boolean;
  message: string;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Stage / publish / unpublish / unstage and self-healing for the volumes of this node. One call
 * per volume at a time (KeyedLock); the state file records every step so a restarted plugin
 * knows what it owns.
 */
export class VolumeManager {
  readonly state: StateStore;
  private readonly lock = new KeyedLock();
  private readonly log: Logger;

  constructor(private readonly opts: VolumeManagerOptions) {
    this.state = new StateStore(opts.stateDir);
    this.log = opts.logger;
  }

  async init(): Promise<void> {
    await this.state.load();
  }

  withVolume<T>(volumeId: string, fn: () => Promise<T>): Promise<T> {
    return this.lock.run(volumeId, fn);
  }

  isBusy(volumeId: string): boolean {
    return this.lock.isBusy(volumeId);
  }

  private volumeDir(volumeId: string): string {
    return join(this.opts.stateDir, 'volumes', createHash('sha256').update(volumeId).digest('hex').slice(0, 20));
  }

  stage(input: StageInput): Promise<void> {
    return this.withVolume(input.volumeId, async () => {
      const existing = this.state.get(input.volumeId);
      if (existing) {
        if (existing.stagingPath !== input.stagingPath) {
          throw alreadyExists(`volume ${input.volumeId} is already staged at ${existing.stagingPath}; unstage it there first`);
        }
        if (!same(existing.capability, input.capability)) {
          throw alreadyExists(`volume ${input.volumeId} is already staged at ${input.stagingPath} with a different volume_capability`);
        }
        if (!same(existing.config, input.config)) {
          throw alreadyExists(`volume ${input.volumeId} is already staged at ${input.stagingPath} with a different volume_context`);
        }
        await this.heal(existing, 'repeated NodeStageVolume');
        return;
      }
      const other = this.state.all().find((v) => v.stagingPath === input.stagingPath);
      if (other) throw alreadyExists(`${input.stagingPath} is the staging path of volume ${other.volumeId}`);
      // Before anything is recorded or created: a refused host path never reaches a pod.
      if (this.opts.mountPods) await this.opts.mountPods.vetHostPaths(input.config);

      const dir = this.volumeDir(input.volumeId);
      const mountsFile = await writeVolumeFiles(dir, input.config.mounts, input.credentials);
      const record: VolumeRecord = {
        volumeId: input.volumeId,
        stagingPath: input.stagingPath,
        capability: input.capability,
        config: input.config,
        dir,
        publishes: {},
      };
      // Recorded before the child starts: a crash in between leaves an entry the healer completes
      // (or Unstage removes), never an unrecorded mount.
      await this.state.put(record);
      try {
        if (this.opts.mountPods) await this.startPod(record, this.opts.mountPods, input.credentials);
        else await this.startChild(record, mountsFile);
      } catch (err) {
        await this.stopEverything(record).catch(() => undefined);
        await removeVolumeFiles(dir).catch(() => undefined);
        await this.state.delete(input.volumeId);
        throw internal(`mounting volume ${input.volumeId} at ${input.stagingPath} failed: ${(err as Error).message}`);
      }
      this.log.info({ volumeId: input.volumeId, stagingPath: input.stagingPath, pid: record.child?.pid, pod: record.pod?.name }, 'volume staged');
    });
  }

  /** Starts (or restarts) the FUSE child after clearing whatever is left at the staging path. */
  private async startChild(record: VolumeRecord, mountsFile = join(record.dir, 'mounts.json')): Promise<void> {
    for (const orphan of await findServingProcesses(record.stagingPath)) {
      this.log.warn({ volumeId: record.volumeId, pid: orphan.pid }, 'stopping a FUSE process left from an earlier attempt');
      await stopFuseChild(orphan, record.stagingPath, 2000);
    }
    // Only after the dead mount is gone: any fs call on it fails with ENOTCONN.
    await unmountAll(record.stagingPath, true);
    await mkdir(record.stagingPath, { recursive: true });
    record.child = await spawnFuseChild({
      stagingPath: record.stagingPath,
      volumeDir: record.dir,
      mountsFile,
      config: record.config,
      command: this.opts.childCommand,
      readyTimeoutMs: this.opts.readyTimeoutMs,
    });
    await this.state.put(record);
  }

  /**
   * Pod mode: ensures the volume's mount pod, waits for its FUSE mount to be live on the host and
   * binds it to the staging path.
   */
  private async startPod(record: VolumeRecord, pods: MountPods, credentials?: Map<string, Record<string, string>>): Promise<void> {
    record.pod = await pods.ensure(record.volumeId, record.stagingPath, record.config, credentials ?? (await readVolumeCredentials(record.dir)));
    await this.state.put(record);
    await pods.waitLive(record.volumeId);
    await this.bindStaging(record, pods);
  }

  /** Binds the mount pod's live FUSE mount to the staging path (replacing a bind of a dead one). */
  private async bindStaging(record: VolumeRecord, pods: MountPods): Promise<void> {
    await unmountAll(record.stagingPath, false);
    await mkdir(record.stagingPath, { recursive: true });
    await bindMount(pods.fsPath(record.volumeId), record.stagingPath, false);
  }

  private async stopEverything(record: VolumeRecord): Promise<void> {
    if (this.opts.mountPods) {
      await unmountAll(record.stagingPath, false);
      await this.opts.mountPods.remove(record.volumeId);
      return;
    }
    if (record.child) await stopFuseChild(record.child, record.stagingPath);
    for (const orphan of await findServingProcesses(record.stagingPath)) await stopFuseChild(orphan, record.stagingPath, 2000);
    await unmountAll(record.stagingPath, true);
  }

  unstage(volumeId: string, stagingPath: string): Promise<void> {
    return this.withVolume(volumeId, async () => {
      const record = this.state.get(volumeId);
      if (!record || record.stagingPath !== stagingPath) {
        // Spec: not staged at staging_target_path -> 0 OK. A Hoard mount left there without a
        // record (state lost) is still ours to clean.
        const entry = await mountAt(stagingPath);
        if (!this.state.all().some((v) => v.stagingPath === stagingPath) && entry?.fsType === 'fuse.hoard') {
          this.log.warn({ volumeId, stagingPath }, 'unstage: removing an unrecorded Hoard mount');
          if (this.opts.mountPods) {
            await unmountAll(stagingPath, false);
            await this.opts.mountPods.remove(volumeId);
            return;
          }
          for (const orphan of await findServingProcesses(stagingPath)) await stopFuseChild(orphan, stagingPath, 2000);
          await unmountAll(stagingPath, true);
        }
        return;
      }
      const table = await readMountInfo();
      const stillMounted = Object.keys(record.publishes).filter((t) => table.some((e) => e.mountPoint === t));
      if (stillMounted.length > 0) {
        throw failedPrecondition(`volume ${volumeId} is still published at ${stillMounted.join(', ')}; call NodeUnpublishVolume first`);
      }
      await this.stopEverything(record);
      await removeVolumeFiles(record.dir);
      await this.state.delete(volumeId);
      this.log.info({ volumeId, stagingPath }, 'volume unstaged');
    });
  }

  publish(input: PublishInput): Promise<void> {
    return this.withVolume(input.volumeId, async () => {
      const record = this.state.get(input.volumeId);
      if (!record) throw failedPrecondition(`volume ${input.volumeId} is not staged on this node; call NodeStageVolume first`);
      if (record.stagingPath !== input.stagingPath) {
        throw failedPrecondition(`volume ${input.volumeId} is staged at ${record.stagingPath}, not at ${input.stagingPath}`);
      }
      const existing = record.publishes[input.targetPath];
      if (existing) {
        if (existing.readOnly !== input.readOnly || existing.subPath !== input.subPath || !same(existing.capability, input.capability)) {
          throw alreadyExists(
            `volume ${input.volumeId} is already published at ${input.targetPath} with readonly=${existing.readOnly}, subPath="${existing.subPath}"; unpublish it first`,
          );
        }
        await this.heal(record, 'repeated NodePublishVolume');
        return;
      }
      const owner = this.state.findByTarget(input.targetPath);
      if (owner) throw alreadyExists(`${input.targetPath} is already the target of volume ${owner.volumeId}`);
      if (input.capability.accessMode === 'SINGLE_NODE_SINGLE_WRITER' && Object.keys(record.publishes).length > 0) {
        throw failedPrecondition(`volume ${input.volumeId} has access mode SINGLE_NODE_SINGLE_WRITER and is already published at ${Object.keys(record.publishes).join(', ')}`);
      }
      const staging = await this.heal(record, 'NodePublishVolume');
      if (staging.abnormal) throw unavailable(`volume ${input.volumeId}: ${staging.message}`);

      const source = await this.resolveSource(record, input.subPath);
      const created = await this.prepareTarget(input.targetPath);
      const pub: PublishRecord = {
        targetPath: input.targetPath,
        readOnly: input.readOnly,
        subPath: input.subPath,
        capability: input.capability,
        createdTarget: created,
      };
      try {
        await bindMount(source, input.targetPath, input.readOnly);
      } catch (err) {
        if (created) await rmdir(input.targetPath).catch(() => undefined);
        throw internal(`bind-mounting volume ${input.volumeId} at ${input.targetPath} failed: ${(err as Error).message}`);
      }
      record.publishes[input.targetPath] = pub;
      await this.state.put(record);
      this.log.info({ volumeId: input.volumeId, targetPath: input.targetPath, readOnly: input.readOnly, subPath: input.subPath }, 'volume published');
    });
  }

  /**
   * The bind source: the staging path or a directory under it. Checked from a child process
   * (`realpath -e`), so a symlink cannot lead outside the volume and a slow mount cannot block us.
   */
  private async resolveSource(record: VolumeRecord, subPath: string): Promise<string> {
    if (!subPath) return record.stagingPath;
    const wanted = join(record.stagingPath, subPath);
    let real: string;
    try {
      real = (await run('realpath', ['-e', wanted], { timeout: 10_000 })).stdout.trim();
    } catch {
      throw invalidArgument(`volume_context.subPath: "${subPath}" does not exist in volume ${record.volumeId}`);
    }
    if (real !== record.stagingPath && !real.startsWith(`${record.stagingPath}/`)) {
      throw invalidArgument(`volume_context.subPath: "${subPath}" resolves outside the volume`);
    }
    try {
      await run('test', ['-d', real], { timeout: 10_000 });
    } catch {
      throw invalidArgument(`volume_context.subPath: "${subPath}" is not a directory`);
    }
    return real;
  }

  /** Creates target_path (the SP's job per spec) and clears a stale mount left on it. */
  private async prepareTarget(target: string): Promise<boolean> {
    if (await mountAt(target)) {
      this.log.warn({ targetPath: target }, 'target path holds an unrecorded mount; detaching it');
      await unmountAll(target, false);
    }
    try {
      const st = await stat(target);
      if (!st.isDirectory()) throw invalidArgument(`target_path ${target} exists and is not a directory`);
      return false;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await mkdir(target, { recursive: true });
    return true;
  }

  unpublish(volumeId: string, targetPath: string): Promise<void> {
    return this.withVolume(volumeId, async () => {
      const record = this.state.get(volumeId) ?? this.state.findByTarget(targetPath);
      if (await mountAt(targetPath)) await unmountAll(targetPath, false);
      // Spec: the SP MUST delete the file or directory it created at target_path. rmdir only
      // removes an empty directory, so nothing of anyone else's is ever deleted.
      await rmdir(targetPath).catch((err: NodeJS.ErrnoException) => {
        if (!['ENOENT', 'ENOTEMPTY', 'EEXIST', 'ENOTDIR'].includes(err.code ?? '')) throw err;
      });
      if (record?.publishes[targetPath]) {
        delete record.publishes[targetPath];
        await this.state.put(record);
        this.log.info({ volumeId: record.volumeId, targetPath }, 'volume unpublished');
      }
    });
  }

  /**
   * Checks one volume and repairs what is broken: a dead or missing FUSE child / ENOTCONN staging
   * mount is remounted, and every published target that no longer shows the live staging mount
   * (a bind of a dead FUSE mount stays dead) is detached lazily and bound again.
   * Callers hold the volume's lock.
   */
  async heal(record: VolumeRecord, reason: string): Promise<VolumeHealth> {
    const check = await this.checkStaging(record);
    let stagingEntry = check.entry;
    if (check.health.abnormal && this.opts.mountPods) {
      const repaired = await this.repairFromPod(record, this.opts.mountPods, check.entry, reason);
      if (repaired.abnormal) return repaired;
      stagingEntry = await mountAt(record.stagingPath);
    } else if (check.health.abnormal) {
      if (check.repairable) {
        this.log.warn({ volumeId: record.volumeId, stagingPath: record.stagingPath, problem: check.health.message, reason }, 'broken volume mount found; remounting');
        try {
          if (record.child) await stopFuseChild(record.child, record.stagingPath, 2000);
          await this.startChild(record);
        } catch (err) {
          this.log.error({ volumeId: record.volumeId, err: (err as Error).message }, 'remounting the volume failed; will retry');
          return { abnormal: true, message: `remount failed: ${(err as Error).message}` };
        }
        stagingEntry = await mountAt(record.stagingPath);
        this.log.info({ volumeId: record.volumeId, stagingPath: record.stagingPath, pid: record.child?.pid }, 'volume remounted');
      } else {
        return check.health;
      }
    }
    if (!stagingEntry) return { abnormal: true, message: 'staging mount vanished' };
    let rebound = 0;
    const table = await readMountInfo();
    for (const pub of Object.values(record.publishes)) {
      const entries = table.filter((e) => e.mountPoint === pub.targetPath);
      const top = entries.at(-1);
      if (top && top.dev === stagingEntry.dev && entries.length === 1) continue;
      if (!(await this.rebind(record, pub, entries.length > 0))) continue;
      rebound++;
    }
    if (rebound > 0) this.log.info({ volumeId: record.volumeId, rebound }, 'published targets re-bound to the live mount');
    return { abnormal: false, message: this.servedBy(record) };
  }

  private servedBy(record: VolumeRecord): string {
    return record.pod ? `mount pod ${record.pod.name} serves ${record.stagingPath}` : `FUSE process ${record.child?.pid} serves ${record.stagingPath}`;
  }

  /**
   * Pod mode repair. The kubelet restarts a mount pod that died; the plugin recreates one that was
   * deleted, and once the pod's FUSE mount is live again binds it to the staging path (the caller
   * then re-binds every published target). Failures and recoveries become Events on the mount pod
   * and the Dataset.
   */
  private async repairFromPod(record: VolumeRecord, pods: MountPods, stagingEntry: MountEntry | undefined, reason: string): Promise<VolumeHealth> {
    const fs = pods.fsPath(record.volumeId);
    if (!(await pods.isLive(fs))) {
      let pod = await pods.get(pods.podName(record.volumeId));
      if (!pod || pod.metadata?.deletionTimestamp) {
        this.log.warn({ volumeId: record.volumeId, pod: record.pod?.name, reason }, 'mount pod is gone; creating it again');
        try {
          record.pod = await pods.ensure(record.volumeId, record.stagingPath, record.config, await readVolumeCredentials(record.dir));
          await this.state.put(record);
          pod = await pods.get(record.pod.name);
        } catch (err) {
          return { abnormal: true, message: `recreating the mount pod failed: ${(err as Error).message}` };
        }
      }
      if (pod && record.pod && restartsOf(pod) > record.pod.restarts) {
        record.pod.restarts = restartsOf(pod);
        await this.state.put(record);
        const message = `FUSE of volume ${record.volumeId} on node ${pods.opts.nodeName} died; the kubelet restarts mount pod ${pod.metadata!.name}: ${describePod(pod)}`;
        this.log.warn({ volumeId: record.volumeId, pod: pod.metadata!.name }, 'mount pod restarted');
        await pods.event(pod, 'Warning', 'FuseFailed', message);
        await pods.datasetEvent(record.config, 'Warning', 'FuseFailed', message);
      }
      return { abnormal: true, message: `waiting for mount pod ${pods.podName(record.volumeId)} to serve ${fs}: ${describePod(pod)}` };
    }
    const recovering = stagingEntry !== undefined;
    try {
      await this.bindStaging(record, pods);
    } catch (err) {
      return { abnormal: true, message: `binding ${fs} to ${record.stagingPath} failed: ${(err as Error).message}` };
    }
    if (recovering) {
      const pod = await pods.get(pods.podName(record.volumeId));
      const message = `FUSE of volume ${record.volumeId} is live again on node ${pods.opts.nodeName}; staging path and published targets re-bound`;
      this.log.info({ volumeId: record.volumeId, pod: record.pod?.name, reason }, 'staging path re-bound to the live FUSE mount');
      if (pod) await pods.event(pod, 'Normal', 'FuseRecovered', message);
      await pods.datasetEvent(record.config, 'Normal', 'FuseRecovered', message);
    }
    return { abnormal: false, message: this.servedBy(record) };
  }

  private async rebind(record: VolumeRecord, pub: PublishRecord, mounted: boolean): Promise<boolean> {
    try {
      if (mounted) await unmountAll(pub.targetPath, false);
      try {
        await stat(dirname(pub.targetPath));
      } catch {
        this.log.warn({ volumeId: record.volumeId, targetPath: pub.targetPath }, 'target parent directory is gone; waiting for NodeUnpublishVolume');
        return false;
      }
      await mkdir(pub.targetPath, { recursive: true });
      const source = pub.subPath ? join(record.stagingPath, pub.subPath) : record.stagingPath;
      await bindMount(source, pub.targetPath, pub.readOnly);
      this.log.info({ volumeId: record.volumeId, targetPath: pub.targetPath }, 're-bound published target');
      return true;
    } catch (err) {
      this.log.error({ volumeId: record.volumeId, targetPath: pub.targetPath, err: (err as Error).message }, 're-binding a published target failed; will retry');
      return false;
    }
  }

  private async checkStaging(record: VolumeRecord): Promise<{ health: VolumeHealth; entry?: MountEntry; repairable: boolean }> {
    if (this.opts.mountPods) return this.checkPodStaging(record, this.opts.mountPods);
    const alive = await isChildAlive(record.child, record.stagingPath);
    const entry = await mountAt(record.stagingPath);
    if (!alive) {
      return { health: { abnormal: true, message: `FUSE process ${record.child?.pid ?? '(none)'} is gone` }, entry, repairable: true };
    }
    if (!entry || !entry.fsType.startsWith('fuse')) {
      return { health: { abnormal: true, message: `${record.stagingPath} is not mounted` }, entry, repairable: true };
    }
    const probe = await probePath(record.stagingPath);
    if (probe.health === 'ok') return { health: { abnormal: false, message: `FUSE process ${record.child!.pid} serves ${record.stagingPath}` }, entry, repairable: false };
    if (probe.health === 'unresponsive') return { health: { abnormal: true, message: `${record.stagingPath} is not responding (${probe.detail})` }, entry, repairable: false };
    return { health: { abnormal: true, message: `${record.stagingPath}: ${probe.detail}` }, entry, repairable: probe.health === 'dead' };
  }

  /** Pod mode: the pod's FUSE mount is live and the staging path is a bind of exactly that mount. */
  private async checkPodStaging(record: VolumeRecord, pods: MountPods): Promise<{ health: VolumeHealth; entry?: MountEntry; repairable: boolean }> {
    const fs = pods.fsPath(record.volumeId);
    const table = await readMountInfo();
    const live = await mountAt(fs, table);
    const entry = await mountAt(record.stagingPath, table);
    const name = pods.podName(record.volumeId);
    if (!live || !live.fsType.startsWith('fuse')) return { health: { abnormal: true, message: `mount pod ${name} has no FUSE mount at ${fs}` }, entry, repairable: true };
    const probe = await probePath(fs);
    if (probe.health !== 'ok') return { health: { abnormal: true, message: `mount pod ${name}: ${fs}: ${probe.detail}` }, entry, repairable: true };
    if (!entry || entry.dev !== live.dev) return { health: { abnormal: true, message: `${record.stagingPath} is not bound to the live FUSE mount of ${name}` }, entry, repairable: true };
    return { health: { abnormal: false, message: this.servedBy(record) }, entry, repairable: false };
  }

  /** Volume condition for NodeGetVolumeStats: read-only, never repairs (the healer does). */
  async condition(record: VolumeRecord): Promise<VolumeHealth> {
    return (await this.checkStaging(record)).health;
  }

  /** The volume a stats request names, checked against the paths it is staged/published at. */
  lookupPath(volumeId: string, rawPath: string): VolumeRecord {
    const record = this.state.get(volumeId);
    if (!record) throw notFound(`volume ${volumeId} is not staged on this node`);
    if (!isAbsolute(rawPath) || rawPath.includes('\0')) throw notFound(`volume ${volumeId} is not staged or published at "${rawPath}" (not an absolute path)`);
    const volumePath = normalize(rawPath).replace(/(.)\/$/, '$1');
    const known = [record.stagingPath, ...Object.keys(record.publishes)];
    if (!known.some((p) => volumePath === p || volumePath.startsWith(`${p}/`))) {
      throw notFound(`volume ${volumeId} is not staged or published at ${volumePath}`);
    }
    return record;
  }
}
