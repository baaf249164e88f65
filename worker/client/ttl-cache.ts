/**
 * A tiny TTL cache with in-flight coalescing, for absorbing FUSE getattr/readdir storms: many
 * concurrent lookups of one path become one worker call, and answers (including NOT_FOUND) are
 * reused for a moment. Bounded: the oldest entries go first.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { expires: number; value?: V; error?: unknown }>();
  private readonly inflight = new Map<string, Promise<V>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly cacheError: (e: unknown) => boolean = () => false,
  ) {}

  get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit && hit.expires > Date.now()) {
      return 'error' in hit ? Promise.reject(hit.error) : Promise.resolve(hit.value as V);
    }
    if (hit) this.entries.delete(key);
    const running = this.inflight.get(key);
    if (running) return running;
    const p = load().then(
      (value) => {
        this.inflight.delete(key);
        this.set(key, value);
        return value;
      },
      (error: unknown) => {
        this.inflight.delete(key);
        if (this.ttlMs > 0 && this.cacheError(error)) this.store(key, { expires: Date.now() + this.ttlMs, error });
        throw error;
      },
    );
    this.inflight.set(key, p);
    return p;
  }

  /** Answers held (bounded by maxEntries). */
  get size(): number {
    return this.entries.size;
  }

  /** A fresh cached value, without loading (a cached error counts as absent). */
  peek(key: string): V | undefined {
    const hit = this.entries.get(key);
    return hit && hit.expires > Date.now() && !('error' in hit) ? hit.value : undefined;
  }

  set(key: string, value: V): void {
    if (this.ttlMs > 0) this.store(key, { expires: Date.now() + this.ttlMs, value });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  private store(key: string, e: { expires: number; value?: V; error?: unknown }): void {
    this.entries.delete(key);
    this.entries.set(key, e);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
