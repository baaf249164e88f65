import type { V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import type { KubeClients } from '../kube/clients.js';
import { isConflict, isNotFound } from '../kube/errors.js';

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewIntervalMs: number;
  retryIntervalMs: number;
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
const microTime = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/**
 * Leader election on a coordination.k8s.io/v1 Lease, the same protocol as client-go: the holder
 * renews before leaseDuration runs out; others take over only an expired lease, and every write
 * carries the resourceVersion so two candidates can never both win.
 */
export class LeaderElector {
  private timer?: NodeJS.Timeout;
  private leading = false;
  private stopped = false;

  constructor(
    private readonly k: KubeClients,
    private readonly o: LeaderOptions,
    private readonly log: Logger,
    private readonly callbacks: { onStartedLeading(): void; onStoppedLeading(): void },
  ) {}

  start(): void {
    void this.tick();
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Stop; a leader releases the lease so a standby takes over without waiting for expiry. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.read();
      if (lease?.spec?.holderIdentity === this.o.identity) {
        lease.spec.holderIdentity = undefined;
        lease.spec.leaseDurationSeconds = 1;
        await this.k.coordination.replaceNamespacedLease({ name: this.o.name, namespace: this.o.namespace, body: lease });
      }
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'could not release the lease');
    }
  }

  private async read(): Promise<V1Lease | undefined> {
    try {
      return await this.k.coordination.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace });
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let held = false;
    try {
      held = await this.tryAcquireOrRenew();
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'lease update failed');
      held = this.leading && Date.now() - this.lastRenew < this.o.leaseDurationMs;
    }
    if (held && !this.leading) {
      this.leading = true;
      this.log.info({ identity: this.o.identity, lease: `${this.o.namespace}/${this.o.name}` }, 'became leader');
      this.callbacks.onStartedLeading();
    } else if (!held && this.leading) {
      this.leading = false;
      this.log.warn({ identity: this.o.identity }, 'lost leadership');
      this.callbacks.onStoppedLeading();
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), this.leading ? this.o.renewIntervalMs : this.o.retryIntervalMs);
  }

  private lastRenew = 0;

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const { name, namespace, identity } = this.o;
    const durationSeconds = Math.max(1, Math.round(this.o.leaseDurationMs / 1000));
    const lease = await this.read();
    if (!lease) {
      try {
        await this.k.coordination.createNamespacedLease({
          namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: microTime(now) as never, renewTime: microTime(now) as never, leaseTransitions: 0 },
          },
        });
        this.lastRenew = Date.now();
        return true;
      } catch (e) {
        if (isConflict(e)) return false;
        throw e;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity;
    const renewedAt = spec.renewTime ? new Date(spec.renewTime as unknown as string).getTime() : 0;
    const expired = renewedAt + (spec.leaseDurationSeconds ?? durationSeconds) * 1000 < now.getTime();
    if (holder && holder !== identity && !expired) return false;
    const takingOver = holder !== identity;
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      renewTime: microTime(now) as never,
      ...(takingOver ? { acquireTime: microTime(now) as never, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
    };
    for (const f of ['acquireTime'] as const) if (lease.spec[f] instanceof Date) lease.spec[f] = microTime(lease.spec[f] as Date) as never;
    try {
      await this.k.coordination.replaceNamespacedLease({ name, namespace, body: lease });
      this.lastRenew = Date.now();
      return true;
    } catch (e) {
      if (isConflict(e)) return false;
      throw e;
    }
  }
}
