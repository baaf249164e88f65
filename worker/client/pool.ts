import type { Logger } from '../../lib/log.js';
import { WorkerConnection } from './connection.js';
import type { Member, MembershipSource } from './membership.js';
import { HashRing } from './ring.js';

interface Health {
  downUntil: number;
  failures: number;
}

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 5_000;

/**
 * The live worker set: the ring (by stable id), one channel per worker, and which workers
 * recently failed. A failed worker is skipped for a short, growing backoff so a dead pod costs
 * one failed call, not one per read; after the backoff the next call probes it again.
 */
export class WorkerPool {
  readonly ring = new HashRing();
  private readonly conns = new Map<string, WorkerConnection>();
  private readonly health = new Map<string, Health>();

  constructor(
    private readonly membership: MembershipSource,
    private readonly timeoutMs: number,
    private readonly logger?: Logger,
  ) {
    this.apply(membership.members());
    membership.onChange((m) => this.apply(m));
  }

  ready(): Promise<void> {
    return this.membership.ready;
  }

  private apply(members: Member[]): void {
    const next = new Map(members.map((m) => [m.id, m]));
    for (const [id, conn] of this.conns) {
      const m = next.get(id);
      if (!m || m.address !== conn.address) {
        conn.close();
        this.conns.delete(id);
        this.health.delete(id);
        if (!m) this.ring.remove(id);
      }
    }
    for (const m of members) {
      if (!this.conns.has(m.id)) this.conns.set(m.id, new WorkerConnection(m.id, m.address, this.timeoutMs));
      this.ring.add(m.id);
    }
  }

  get(id: string): WorkerConnection | undefined {
    return this.conns.get(id);
  }

  all(): WorkerConnection[] {
    return [...this.conns.values()];
  }

  isUp(id: string, now = Date.now()): boolean {
    const h = this.health.get(id);
    return !h || h.downUntil <= now;
  }

  markDown(id: string, reason: string): void {
    const h = this.health.get(id) ?? { downUntil: 0, failures: 0 };
    h.failures++;
    const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (h.failures - 1));
    h.downUntil = Date.now() + backoff;
    this.health.set(id, h);
    this.logger?.warn({ worker: id, backoffMs: backoff, reason }, 'worker marked down');
  }

  markUp(id: string): void {
    if (this.health.delete(id)) this.logger?.info({ worker: id }, 'worker answering again');
  }

  /**
   * Who to ask for `key`, best first: its `replication` owners plus the next worker on the ring
   * (where the key lands if an owner leaves), healthy ones first. Down workers come last so a
   * caller without another fallback can still probe them.
   */
  candidates(key: string, replication: number): { up: WorkerConnection[]; down: WorkerConnection[] } {
    const now = Date.now();
    const up: WorkerConnection[] = [];
    const down: WorkerConnection[] = [];
    for (const id of this.ring.owners(key, replication + 1)) {
      const c = this.conns.get(id);
      if (!c) continue;
      (this.isUp(id, now) ? up : down).push(c);
    }
    return { up, down };
  }

  close(): void {
    this.membership.close();
    for (const c of this.conns.values()) c.close();
    this.conns.clear();
  }
}
