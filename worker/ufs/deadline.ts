import { pipeline, Transform, type Readable } from 'node:stream';
import { HoardError } from '../../lib/errors.js';
import type { MountSpec } from '../../lib/mounts.js';

/** The default of `hoard worker --store-timeout`: below the clients' 10 s call deadline, so the worker's answer arrives first. */
export const DEFAULT_STORE_TIMEOUT_MS = 8_000;

/** A mount's store as errors name it: mount name and URI (without query options, which are long and say nothing new). */
export function storeName(spec: MountSpec): string {
  const q = spec.uri.indexOf('?');
  return `mount "${spec.name}" (${q < 0 ? spec.uri : spec.uri.slice(0, q)})`;
}

/**
 * The deadline of every call to one under-storage. A store that hangs (a stopped server, a black
 * hole) must cost a reader a bounded wait and an error naming the store, never an open-ended
 * wait that the client would take for a dead worker. Stat and list are bounded as a whole; a
 * read until its response starts and then between any two chunks (a large read of a slow but
 * live store keeps going).
 */
export class StoreDeadline {
  constructor(
    readonly ms: number,
    private readonly store: string,
  ) {}

  error(what: string): HoardError {
    return new HoardError('UNAVAILABLE', `store ${this.store}: ${what}: no answer within ${this.ms} ms (--store-timeout); the under-storage is slow or down`);
  }

  /** A call without a signal of its own: stop waiting for it at the deadline (it finishes, unheard, on its own timeouts). */
  call<T>(what: string, op: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.error(what)), this.ms);
    });
    return Promise.race([op(), late]).finally(() => clearTimeout(timer));
  }

  /**
   * A read: `op` gets a signal that fires at the deadline (so the connector drops its request),
   * and the stream it returns fails with the same error if it stalls for `ms`.
   */
  async read(what: string, signal: AbortSignal | undefined, op: (signal: AbortSignal) => Promise<Readable>): Promise<Readable> {
    const ac = new AbortController();
    const err = this.error(what);
    let src: Readable | undefined;
    // Passes chunks through unchanged; each one restarts the deadline.
    const out = new Transform({
      transform(chunk: Buffer, _enc, done) {
        timer.refresh();
        done(null, chunk);
      },
    });
    let late!: (e: unknown) => void;
    const deadline = new Promise<never>((_, reject) => (late = reject));
    deadline.catch(() => undefined);
    const timer = setTimeout(() => {
      ac.abort(err);
      late(err);
      // Once piped, failing the source fails `out` for its reader (pipeline forwards the error).
      src?.destroy(err);
    }, this.ms);
    const started = op(signal ? AbortSignal.any([signal, ac.signal]) : ac.signal);
    // A response that turns up after the deadline has nobody to read it: free its connection.
    started.then((s) => ac.signal.aborted && s.destroy(), () => undefined);
    try {
      src = await Promise.race([started, deadline]);
    } catch (e) {
      clearTimeout(timer);
      throw e;
    }
    pipeline(src, out, () => clearTimeout(timer));
    return out;
  }
}
