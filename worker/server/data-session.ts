import type { Socket } from 'node:net';
import {
  encodeDataHead,
  encodeEmpty,
  encodeError,
  FrameType,
  MAGIC,
  MAX_BACKLOG,
  MAX_IN_FLIGHT,
  MAX_REQUEST_BODY,
  decodeRead,
} from '../proto/data-protocol.js';
import { FrameReader } from '../proto/frame-reader.js';
import { errorCodeOf } from './errors.js';
import { answerableFromCache, DATA_READ_METHOD, serveFromMemory, serveRead, type DataReadContext, type FrameOut } from './data-read.js';
import { checkedRead, type CheckedRead } from './validate.js';

/** Largest DATA payload: keeps frames of concurrent requests interleaving on one connection. */
const MAX_DATA_PAYLOAD = 1024 * 1024;
/**
 * Bytes queued in user space before a request waits for 'drain'. The kernel's socket buffer
 * holds a few MiB more, so the wire keeps moving while the next window is produced.
 */
const WRITE_BUDGET = 4 * 1024 * 1024;

/**
 * One data-protocol connection on the worker: parses request frames, serves READs (at most
 * MAX_IN_FLIGHT at once of those that may wait on the under-storage; cached ones always at once),
 * writes their frames, and stops every request when the connection goes away.
 */
export class DataSession implements FrameOut {
  private readonly inflight = new Map<number, AbortController>();
  /** Requests in flight that may be waiting on the under-storage. */
  private storeBound = 0;
  /**
   * READs waiting for a store-bound slot. Cached READs never queue here, so a hung store cannot
   * hold up what the cache can answer; past MAX_BACKLOG the socket is paused (backpressure).
   */
  private readonly backlog = new Map<number, CheckedRead>();
  private readonly parser: FrameReader;
  private drainWaiters: (() => void)[] = [];
  private draining = false;
  readonly closed: Promise<void>;

  constructor(
    private readonly socket: Socket,
    private readonly ctx: DataReadContext,
  ) {
    this.parser = new FrameReader(
      { magic: MAGIC, maxBody: (t) => (t === FrameType.READ ? MAX_REQUEST_BODY : t === FrameType.CANCEL ? 0 : undefined) },
      { frame: (type, id, body) => this.onFrame(type, id, body), invalid: (reason) => this.protocolError(reason) },
    );
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.setNoDelay(true);
    socket.on('error', (err) => ctx.logger.debug({ remote: socket.remoteAddress, err: err.message }, 'data connection error'));
    socket.on('close', () => {
      for (const a of this.inflight.values()) a.abort();
      this.wakeWriters();
    });
    socket.on('drain', () => this.wakeWriters());
    socket.on('data', (chunk: Buffer) => {
      // No request may take the worker down: a throw that escapes the frame handlers (a bug)
      // closes this connection only, and is logged as the bug it is.
      try {
        this.parser.push(chunk);
      } catch (err) {
        ctx.logger.error({ err, remote: socket.remoteAddress }, 'data connection failed unexpectedly; closed it');
        socket.destroy();
      }
    });
    socket.write(MAGIC);
    socket.resume();
  }

  /**
   * Takes no new requests (frames are read and dropped: reading on is how the client's own close
   * is seen); ends the connection once the ones in flight are done.
   */
  drain(): void {
    this.draining = true;
    this.backlog.clear();
    this.socket.resume();
    if (this.inflight.size === 0) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  data(id: number, fileOffset: number, slices: Buffer[], last: boolean): void {
    if (this.socket.destroyed) return;
    this.socket.cork();
    let at = fileOffset;
    for (const s of slices) {
      for (let p = 0; p < s.length; p += MAX_DATA_PAYLOAD) {
        const piece = s.length <= MAX_DATA_PAYLOAD ? s : s.subarray(p, p + MAX_DATA_PAYLOAD);
        this.socket.write(encodeDataHead(id, at, piece.length));
        this.socket.write(piece);
        at += piece.length;
      }
    }
    if (last) this.socket.write(encodeEmpty(FrameType.END, id));
    this.socket.uncork();
  }

  end(id: number): void {
    if (!this.socket.destroyed) this.socket.write(encodeEmpty(FrameType.END, id));
  }

  error(id: number, code: string, message: string): void {
    if (!this.socket.destroyed) this.socket.write(encodeError(id, code, message));
  }

  drained(signal: AbortSignal): Promise<void> {
    if (this.socket.writableLength <= WRITE_BUDGET || this.socket.destroyed || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.drainWaiters.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private wakeWriters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private onFrame(type: number, id: number, body: Buffer): void {
    if (this.draining) return;
    if (type === FrameType.CANCEL) {
      this.inflight.get(id)?.abort();
      this.backlog.delete(id);
      return;
    }
    if (this.inflight.has(id) || this.backlog.has(id)) return this.protocolError(`request id ${id} is already in flight`);
    let frame;
    try {
      frame = decodeRead(body);
    } catch (err) {
      return this.protocolError((err as Error).message);
    }
    // A frame that parses but asks for something invalid (a length past 2^53, a 100 KB path) is
    // that request's error, not the connection's: the client gets an ERROR frame and goes on.
    let req: CheckedRead;
    try {
      req = checkedRead(frame);
    } catch (err) {
      this.ctx.metrics.startRpc(DATA_READ_METHOD)('INVALID_ARGUMENT');
      return this.error(id, errorCodeOf(err), (err as Error).message);
    }
    if (this.storeBound < MAX_IN_FLIGHT || answerableFromCache(this.ctx, req)) return this.start(id, req);
    this.backlog.set(id, req);
    // Backpressure on requests: stop reading frames until a slot frees up.
    if (this.backlog.size >= MAX_BACKLOG) this.socket.pause();
  }

  private start(id: number, req: CheckedRead): void {
    // A cached read is answered on the spot, unless the connection is already backed up.
    let bound: boolean;
    try {
      if (this.socket.writableLength <= WRITE_BUDGET && !this.socket.destroyed && serveFromMemory(this.ctx, this, id, req)) return;
      bound = !answerableFromCache(this.ctx, req);
    } catch (err) {
      // Our bug, not the client's: say so on this request, keep the worker and the connection.
      this.ctx.logger.error({ err, path: req.path, offset: req.offset, length: req.length }, 'data read failed unexpectedly');
      return this.error(id, 'INTERNAL', `read failed inside the worker: ${(err as Error).message}`);
    }
    if (bound) this.storeBound++;
    const abort = new AbortController();
    this.inflight.set(id, abort);
    void serveRead(this.ctx, this, id, req, abort.signal).finally(() => this.finished(id, bound));
  }

  private finished(id: number, bound: boolean): void {
    this.inflight.delete(id);
    if (bound) this.storeBound--;
    if (this.socket.destroyed) return;
    if (this.draining) {
      if (this.inflight.size === 0) this.socket.end();
      return;
    }
    while (this.storeBound < MAX_IN_FLIGHT && this.backlog.size > 0) {
      const [nextId, next] = this.backlog.entries().next().value as [number, CheckedRead];
      this.backlog.delete(nextId);
      this.start(nextId, next);
    }
    if (this.backlog.size < MAX_BACKLOG && this.socket.isPaused()) this.socket.resume();
  }

  private protocolError(reason: string): void {
    this.ctx.logger.warn({ remote: this.socket.remoteAddress, reason }, 'closed a data connection that broke the protocol');
    this.socket.destroy();
  }
}
