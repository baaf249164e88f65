import { promises as dnsPromises, type SrvRecord } from 'node:dns';
import type { Logger } from '../../lib/log.js';

/** One cache worker: a stable id (its place on the ring) and where to dial it. */
export interface Member {
  id: string;
  address: string;
}

export type SrvResolver = (name: string) => Promise<SrvRecord[]>;

export interface MembershipSource {
  /** The current members, sorted by id. */
  members(): Member[];
  /** Settles once the first list is known. */
  readonly ready: Promise<void>;
  /** Called with the new list whenever membership changes. */
  onChange(fn: (members: Member[]) => void): void;
  close(): void;
}

/** Parses "id=host:port" or "host:port" (id defaults to host:port); errors name the entry. */
export function parseMember(spec: string, field = 'workers'): Member {
  const s = spec.trim();
  const eq = s.indexOf('=');
  const id = eq >= 0 ? s.slice(0, eq).trim() : s;
  const address = eq >= 0 ? s.slice(eq + 1).trim() : s;
  if (!id) throw new Error(`${field}: "${spec}" has an empty id; use id=host:port or host:port`);
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(address);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new Error(`${field}: "${spec}" is not host:port; use id=host:port or host:port, e.g. w0=127.0.0.1:9400`);
  }
  return { id, address };
}

function sameMembers(a: Member[], b: Member[]): boolean {
  return a.length === b.length && a.every((m, i) => m.id === b[i]!.id && m.address === b[i]!.address);
}

function sorted(list: Member[]): Member[] {
  return [...list].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
}

/** A fixed worker list (`hoard up`, tests, CSI "static:" volumes). */
export class StaticMembership implements MembershipSource {
  private readonly list: Member[];
  readonly ready = Promise.resolve();

  constructor(specs: string[]) {
    if (specs.length === 0) throw new Error('workers: the list is empty; give at least one id=host:port');
    const list = specs.map((s, i) => parseMember(s, `workers[${i}]`));
    const ids = new Set<string>();
    for (const m of list) {
      if (ids.has(m.id)) throw new Error(`workers: id "${m.id}" appears twice; every worker needs a distinct id`);
      ids.add(m.id);
    }
    this.list = sorted(list);
  }

  members(): Member[] {
    return this.list;
  }

  onChange(): void {
    // A static list never changes.
  }

  close(): void {}
}

export interface SrvMembershipOptions {
  /** e.g. _grpc._tcp.imagenet-worker.ml.svc.cluster.local */
  name: string;
  refreshMs?: number;
  /** Injected for tests; defaults to node:dns promises.resolveSrv. */
  resolveSrv?: SrvResolver;
  logger?: Logger;
}

/**
 * Workers from the SRV records of a Kubernetes headless Service: ready pods only, each with its
 * stable hostname as target. The id is the target's first label (the pod name, e.g.
 * imagenet-worker-0) so a pod keeps its ring position across restarts and IP changes.
 * A failed refresh keeps the last good list: a DNS hiccup must not empty the ring.
 */
export class SrvMembership implements MembershipSource {
  private list: Member[] = [];
  private readonly listeners: ((m: Member[]) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly resolve: SrvResolver;

  /** Settles after the first lookup, whether it worked or not (then the list is empty). */
  readonly ready: Promise<void>;

  /**
   * Starts resolving at once and then every refreshMs. A first lookup that fails is not fatal:
   * a mount may start before any worker pod is ready, and reads fall back to the UFS meanwhile.
   */
  constructor(private readonly opts: SrvMembershipOptions) {
    if (!opts.name) throw new Error('workers.srv: a DNS name is required, e.g. _grpc._tcp.<dataset>-worker.<ns>.svc.cluster.local');
    const refreshMs = opts.refreshMs ?? 5000;
    if (!(Number.isFinite(refreshMs) && refreshMs > 0)) {
      throw new Error(`workers.refreshMs: ${refreshMs} must be a positive number of milliseconds, e.g. 5000`);
    }
    this.resolve = opts.resolveSrv ?? ((n) => dnsPromises.resolveSrv(n));
    this.ready = this.refresh().then(() => this.schedule(refreshMs));
  }

  private schedule(refreshMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.refresh().finally(() => this.schedule(refreshMs));
    }, refreshMs);
    this.timer.unref();
  }

  /** One lookup; returns whether the list changed. */
  async refresh(): Promise<boolean> {
    let records: SrvRecord[];
    try {
      records = await this.resolve(this.opts.name);
    } catch (e) {
      this.opts.logger?.warn({ srv: this.opts.name, err: (e as Error).message }, 'SRV refresh failed; keeping the last worker list');
      return false;
    }
    if (this.closed) return false;
    const byId = new Map<string, Member>();
    for (const r of records) {
      const host = r.name.replace(/\.$/, '');
      const id = host.split('.')[0]!;
      if (!id || !r.port) continue;
      byId.set(id, { id, address: `${host}:${r.port}` });
    }
    const next = sorted([...byId.values()]);
    if (next.length === 0 && this.list.length > 0) {
      // An empty answer during a rollout is more likely a transient than a dead dataset; clients
      // still fall back to the UFS for anything they cannot reach.
      this.opts.logger?.warn({ srv: this.opts.name }, 'SRV lookup returned no workers; keeping the last worker list');
      return false;
    }
    if (sameMembers(next, this.list)) return false;
    this.list = next;
    this.opts.logger?.info({ srv: this.opts.name, workers: next.map((m) => m.id) }, 'worker membership changed');
    for (const fn of this.listeners) fn(next);
    return true;
  }

  members(): Member[] {
    return this.list;
  }

  onChange(fn: (members: Member[]) => void): void {
    this.listeners.push(fn);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
