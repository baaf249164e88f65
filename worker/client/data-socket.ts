import net from 'node:net';
import { decodeError, encodeEmpty, encodeRead, FrameType, MAGIC, MAX_ERROR_BODY, type ReadFrame } from '../proto/data-protocol.js';
import { FrameReader } from '../proto/frame-reader.js';
import { fromWorkerError, WorkerCallError } from './errors.js';

/** This request cannot use the data protocol (old worker, or a path too long for it): use gRPC Read. */
export class UseGrpcRead extends Error {}

/** How much one socket read may take from the kernel. */
const RECV_BUFFER_BYTES = 1024 * 1024;
/** Payload still to come of at least this size is read by the kernel straight into the caller's buffer. */
const DIRECT_RECV_MIN_BYTES = 64 * 1024;
let recvBuffer: Buffer | undefined;

/**
 * The receive buffer every data socket of this process reads into: no allocation per chunk, and
 * one buffer, not one per socket, because each read is parsed to the end (payload copied out)
 * before the event loop performs the next.
 */
function sharedRecvBuffer(): Buffer {
  return (recvBuffer ??= Buffer.allocUnsafe(RECV_BUFFER_BYTES));
}

interface Pending {
  id: number;
  path: string;
  offset: number;
  length: number;
  buf: Buffer;
  received: number;
  end: number;
  done: boolean;
  resolve(b: Buffer): void;
  reject(e: unknown): void;
  cleanup(): void;
}

/**
 * One TCP connection speaking the data protocol (worker/proto/data-protocol.ts) to one worker,
 * carrying any number of concurrent READs. DATA payload is copied once, from the socket's reused
 * receive buffer straight into the caller's result buffer at its offset. When the connection
 * fails, every pending read fails with a retryable worker fault; the owner opens a new one.
 */
export class DataSocket {
  private readonly socket: net.Socket;
  private readonly parser: FrameReader;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** The request the DATA frame being received belongs to (undefined: discard its bytes). */
  private target: Pending | undefined;
  private targetPos = 0;
  private failure: unknown;

  constructor(
    private readonly workerId: string,
    private readonly address: string,
    host: string,
    port: number,
    /** Called once, when this connection can take no more requests. */
    private readonly onDead: (self: DataSocket, unsupported: boolean) => void,
  ) {
    this.parser = new FrameReader(
      { magic: MAGIC, streamed: FrameType.DATA, maxBody: (t) => (t === FrameType.END ? 0 : t === FrameType.ERROR ? MAX_ERROR_BODY : undefined) },
      {
        frame: (type, id, body) => this.onFrame(type, id, body),
        streamStart: (id, fileOffset, n) => this.onDataStart(id, fileOffset, n),
        streamData: (chunk) => this.onData(chunk),
        streamEnd: () => (this.target = undefined),
        invalid: (reason, magic) => this.onInvalid(reason, magic),
      },
    );
    const recv = sharedRecvBuffer();
    this.socket = net.connect({
      host,
      port,
      noDelay: true,
      keepAlive: true,
      // Lets the kernel notice a peer that vanished while the connection sat idle; reads in
      // flight are bounded by their deadline anyway.
      keepAliveInitialDelay: 15_000,
      // libuv asks for a buffer right before each read(2) and hands it back right after, with no
      // other JavaScript in between; so while a large DATA payload is arriving for a live
      // request, the kernel copies it straight into that request's buffer, saving one copy.
      onread: {
        buffer: () => this.directTarget() ?? recv,
        callback: (n, buf) => {
          if (buf === recv) this.parser.push(n === recv.length ? recv : recv.subarray(0, n));
          else {
            this.targetPos += n;
            this.parser.payloadArrived(n);
          }
          return true;
        },
      },
    });
    this.socket.on('error', (err) => this.die(this.fault('UNAVAILABLE', `data connection to ${this.address}: ${err.message}`, err), false));
    this.socket.on('close', () => this.die(this.fault('UNAVAILABLE', `data connection to ${this.address} closed`), false));
    this.socket.write(MAGIC);
    this.socket.unref();
  }

  get load(): number {
    return this.pending.size;
  }

  read(req: ReadFrame, timeoutMs: number, signal?: AbortSignal, into?: Buffer): Promise<Buffer> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    let frame: Buffer;
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    try {
      frame = encodeRead(id, req);
    } catch (err) {
      return Promise.reject(new UseGrpcRead((err as Error).message));
    }
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => this.cancel(p, this.fault('DEADLINE_EXCEEDED', `read ${req.path}: no answer within ${timeoutMs} ms`)), timeoutMs);
      const onAbort = (): void => this.cancel(p, this.fault('UNAVAILABLE', `read ${req.path}: cancelled by the caller`));
      const p: Pending = {
        id,
        path: req.path,
        offset: req.offset,
        length: req.length,
        buf: into !== undefined && into.length >= req.length ? into.subarray(0, req.length) : Buffer.allocUnsafe(req.length),
        received: 0,
        end: 0,
        done: false,
        resolve,
        reject,
        cleanup: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      if (signal?.aborted) {
        clearTimeout(timer);
        reject(this.fault('UNAVAILABLE', `read ${req.path}: cancelled by the caller`));
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, p);
      if (this.pending.size === 1) this.socket.ref();
      this.socket.write(frame);
    });
  }

  close(): void {
    this.die(this.fault('UNAVAILABLE', `data connection to ${this.address} closed by the client`), false);
  }

  private onFrame(type: number, id: number, body: Buffer): void {
    const p = this.pending.get(id);
    if (!p) return; // cancelled or timed out: its late frames are dropped
    if (type === FrameType.END) {
      if (p.received !== p.end) {
        this.settle(p, this.fault('INTERNAL', `read ${p.path}: worker left a gap (${p.received} bytes over ${p.end})`));
        return;
      }
      this.settle(p, undefined, p.end === p.length ? p.buf : p.buf.subarray(0, p.end));
    } else {
      const e = decodeError(body);
      this.settle(p, fromWorkerError(e.code, e.message, this.workerId));
    }
  }

  private onDataStart(id: number, fileOffset: number, n: number): void {
    const p = this.pending.get(id);
    this.target = undefined;
    if (!p) return;
    const at = fileOffset - p.offset;
    if (at < 0 || at + n > p.length) {
      this.cancel(p, this.fault('INTERNAL', `read ${p.path}: chunk at ${fileOffset} (+${n}) outside the requested range`));
      return;
    }
    p.received += n;
    p.end = Math.max(p.end, at + n);
    this.target = p;
    this.targetPos = at;
  }

  /** Where the next socket read may land directly: the rest of a large payload for a live request. */
  private directTarget(): Buffer | undefined {
    const p = this.target;
    const n = this.parser.payloadRemaining;
    if (p === undefined || p.done || n < DIRECT_RECV_MIN_BYTES) return undefined;
    return p.buf.subarray(this.targetPos, this.targetPos + n);
  }

  private onData(chunk: Buffer): void {
    const p = this.target;
    if (p === undefined || p.done) return;
    chunk.copy(p.buf, this.targetPos);
    this.targetPos += chunk.length;
  }

  private onInvalid(reason: string, magic: boolean): void {
    if (magic) this.die(new UseGrpcRead(`worker ${this.workerId} at ${this.address}: ${reason}`), true);
    else this.die(this.fault('INTERNAL', `data connection to ${this.address}: ${reason}`), false);
  }

  /** Fails a request and tells the worker to stop serving it. */
  private cancel(p: Pending, err: unknown): void {
    if (p.done) return;
    this.settle(p, err);
    if (this.failure === undefined) this.socket.write(encodeEmpty(FrameType.CANCEL, p.id));
  }

  private settle(p: Pending, err: unknown, value?: Buffer): void {
    if (p.done) return;
    p.done = true;
    p.cleanup();
    this.pending.delete(p.id);
    if (this.target === p) this.target = undefined;
    if (this.pending.size === 0 && this.failure === undefined) this.socket.unref();
    if (err !== undefined) p.reject(err);
    else p.resolve(value!);
  }

  private die(err: unknown, unsupported: boolean): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.socket.destroy();
    for (const p of [...this.pending.values()]) this.settle(p, err);
    this.onDead(this, unsupported);
  }

  /** A failure of the connection or of waiting on it: the worker did not answer, so a worker fault. */
  private fault(code: 'UNAVAILABLE' | 'DEADLINE_EXCEEDED' | 'INTERNAL', message: string, cause?: unknown): WorkerCallError {
    return new WorkerCallError(code, `worker ${this.workerId}: ${message}`, this.workerId, true, { cause });
  }
}
