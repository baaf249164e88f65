import type { Readable } from 'node:stream';
import { Counter, type Registry } from 'prom-client';
import { isHoardError } from '../../lib/errors.js';
import type { Ufs, UfsEntry } from '../ufs/types.js';

export interface MetadataCacheOptions {
  /** How long a stat/list answer is reused (default 30 s). */
  ttlMs?: number;
  /** How long a NOT_FOUND answer is reused (default 5 s, at most ttlMs). */
  negativeTtlMs?: number;
  /** Bound on cached answers per kind; the oldest go first (default 100000). */
  maxEntries?: number;
  now?: () => number;
  /** Where hoard_ufs_metadata_requests_total is registered (stat/list calls that reached the UFS). */
  registry?: Registry;
}

type Answer<T> = { expires: number; value: T; error?: undefined } | { expires: number; value?: undefined; error: unknown };

/** One TTL map plus the lookups in flight for it. */
class TtlCache<T> {
  readonly answers = new Map<string, Answer<T>>();
  readonly inflight = new Map<string, Promise<T>>();
}

/**
 * Caches stat and list of a Ufs for a TTL, remembers NOT_FOUND for a shorter one, and lets
 * concurrent identical lookups share one call. A list also primes the stat of each child, so
 * `ls -l` costs one listing instead of one stat per file. read() passes straight through.
 */
export class MetadataCache implements Ufs {
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly stats = new TtlCache<UfsEntry>();
  private readonly lists = new TtlCache<UfsEntry[]>();
  /** Bumped by invalidate(): an answer that started before an invalidation is not cached. */
  private generation = 0;
  private readonly ufsCalls: Counter<'op'> | undefined;

  constructor(
    private readonly ufs: Ufs,
    opts: MetadataCacheOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.negativeTtlMs = Math.min(opts.negativeTtlMs ?? 5_000, this.ttlMs);
    this.maxEntries = opts.maxEntries ?? 100_000;
    this.now = opts.now ?? Date.now;
    this.ufsCalls = opts.registry
      ? new Counter({ name: 'hoard_ufs_metadata_requests_total', help: 'stat and list calls that reached the under-storage', labelNames: ['op'], registers: [opts.registry] })
      : undefined;
  }

  async stat(path: string): Promise<UfsEntry> {
    return {
      ...(await this.lookup(this.stats, path, () => {
        this.ufsCalls?.inc({ op: 'stat' });
        return this.ufs.stat(path);
      })),
    };
  }

  async list(path: string): Promise<UfsEntry[]> {
    const entries = await this.lookup(this.lists, path, async () => {
      const gen = this.generation;
      this.ufsCalls?.inc({ op: 'list' });
      const listed = await this.ufs.list(path);
      if (gen === this.generation) {
        const expires = this.now() + this.ttlMs;
        for (const e of listed) this.remember(this.stats, e.path, { expires, value: e });
      }
      return listed;
    });
    return entries.slice();
  }

  read(path: string, offset: number, length: number, signal?: AbortSignal, version?: string): Promise<Readable> {
    return this.ufs.read(path, offset, length, signal, version);
  }

  /** The cached stat of `path` if there is a fresh one; never asks the under-storage. */
  peek(path: string): UfsEntry | undefined {
    const hit = this.stats.answers.get(path);
    if (hit === undefined || hit.error !== undefined || hit.expires <= this.now()) return undefined;
    return { ...(hit.value as UfsEntry) };
  }

  /** Forgets what is known about `path` and its parent's listing (after a change through us). */
  invalidate(path: string): void {
    this.generation++;
    this.stats.answers.delete(path);
    this.lists.answers.delete(path);
    const slash = path.lastIndexOf('/');
    if (slash >= 0) this.lists.answers.delete(slash === 0 ? '/' : path.slice(0, slash));
  }

  /** Forgets everything. */
  clear(): void {
    this.generation++;
    this.stats.answers.clear();
    this.lists.answers.clear();
  }

  close(): Promise<void> {
    this.clear();
    return this.ufs.close();
  }

  private lookup<T>(cache: TtlCache<T>, path: string, fetch: () => Promise<T>): Promise<T> {
    const hit = cache.answers.get(path);
    if (hit !== undefined) {
      if (hit.expires > this.now()) return hit.error !== undefined ? Promise.reject(hit.error) : Promise.resolve(hit.value as T);
      cache.answers.delete(path);
    }
    const running = cache.inflight.get(path);
    if (running) return running;
    const gen = this.generation;
    const p = fetch().then(
      (value) => {
        if (gen === this.generation) this.remember(cache, path, { expires: this.now() + this.ttlMs, value });
        return value;
      },
      (error: unknown) => {
        // Only "it does not exist" is worth remembering; other errors are retried next time.
        if (gen === this.generation && isHoardError(error, 'NOT_FOUND')) {
          this.remember(cache, path, { expires: this.now() + this.negativeTtlMs, error });
        }
        throw error;
      },
    );
    const tracked = p.finally(() => cache.inflight.delete(path));
    cache.inflight.set(path, tracked);
    return tracked;
  }

  private remember<T>(cache: TtlCache<T>, path: string, answer: Answer<T>): void {
    cache.answers.delete(path); // re-insert so Map order stays oldest-first
    cache.answers.set(path, answer);
    while (cache.answers.size > this.maxEntries) {
      const oldest = cache.answers.keys().next().value as string;
      cache.answers.delete(oldest);
    }
  }
}
