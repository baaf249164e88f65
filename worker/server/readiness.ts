import type { Namespace } from '../ufs/namespace.js';

export interface ReadinessState {
  ready: boolean;
  reason: string;
}

/**
 * Ready = the page store is open, the worker is not shutting down, and every mount root answered
 * a stat within the timeout. Probes arrive every few seconds from kubelet and from Stats callers,
 * so a result is reused for `cacheMs` and concurrent checks share one round of stats.
 */
export class Readiness {
  private state: ReadinessState = { ready: false, reason: 'starting' };
  private checkedAt = 0;
  private running: Promise<ReadinessState> | undefined;
  private storeOpen = false;
  private stopping = false;

  constructor(
    private readonly ns: Namespace,
    private readonly opts: { timeoutMs: number; cacheMs: number } = { timeoutMs: 3_000, cacheMs: 2_000 },
  ) {}

  markStoreOpen(): void {
    this.storeOpen = true;
    this.checkedAt = 0;
  }

  markStopping(): void {
    this.stopping = true;
    this.state = { ready: false, reason: 'shutting down' };
  }

  /** The last known answer, without waiting (for Stats and the ready gauge). */
  current(): boolean {
    return this.state.ready && !this.stopping;
  }

  /** The reason of the last known answer, e.g. "mount data: … no such file or directory". */
  currentReason(): string {
    return this.stopping ? 'shutting down' : this.state.reason;
  }

  async check(): Promise<ReadinessState> {
    if (this.stopping) return { ready: false, reason: 'shutting down' };
    if (Date.now() - this.checkedAt < this.opts.cacheMs) return this.state;
    this.running ??= this.probe().finally(() => (this.running = undefined));
    return this.running;
  }

  private async probe(): Promise<ReadinessState> {
    let state: ReadinessState;
    if (!this.storeOpen) state = { ready: false, reason: 'cache store is not open yet' };
    else {
      const failures = (await Promise.all(this.ns.mountNames().map((name) => this.probeMount(name)))).filter((f) => f !== undefined);
      state = failures.length === 0 ? { ready: true, reason: `${this.ns.mountNames().length} mount(s) reachable` } : { ready: false, reason: failures.join('; ') };
    }
    this.checkedAt = Date.now();
    if (!this.stopping) this.state = state;
    return state;
  }

  private async probeMount(name: string): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`mount ${name}: no answer within ${this.opts.timeoutMs} ms`), this.opts.timeoutMs);
    });
    try {
      return await Promise.race([
        this.ns.stat(`/${name}`).then(
          () => undefined,
          (err: unknown) => `mount ${name}: ${err instanceof Error ? err.message : String(err)}`,
        ),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}
