import type { ReadFrame } from '../proto/data-protocol.js';
import { DataSocket, UseGrpcRead } from './data-socket.js';
import { WorkerCallError } from './errors.js';

export { UseGrpcRead };

export interface DataConnectionOptions {
  /**
   * TCP connections kept to the worker; requests go to the least busy (default 2). Two keep a
   * small read from queueing behind a large one's frames, and keep the wire busy while one
   * connection's next frames are being produced.
   */
  sockets?: number;
}

/** After a worker turned out not to speak the data protocol, ask again this much later (it may have been upgraded). */
const RECHECK_UNSUPPORTED_MS = 60_000;

/**
 * The data-protocol side of one worker: persistent sockets opened on first use and reopened on
 * the next request after one fails. Reads throw UseGrpcRead when the worker does not speak the
 * protocol, so the caller can use the gRPC Read instead.
 */
export class DataConnection {
  private readonly sockets: (DataSocket | undefined)[];
  private readonly host: string;
  private readonly port: number;
  private unsupportedUntil = 0;
  private closed = false;

  constructor(
    readonly workerId: string,
    readonly address: string,
    opts: DataConnectionOptions = {},
  ) {
    this.sockets = new Array<DataSocket | undefined>(Math.max(1, opts.sockets ?? 2)).fill(undefined);
    const colon = address.lastIndexOf(':');
    this.host = address.slice(0, colon).replace(/^\[|\]$/g, '');
    this.port = Number(address.slice(colon + 1));
  }

  /** False while the worker is known not to speak the data protocol. */
  get supported(): boolean {
    return Date.now() >= this.unsupportedUntil;
  }

  /** See WorkerConnection.read for `into`. */
  read(req: ReadFrame, timeoutMs: number, signal?: AbortSignal, into?: Buffer): Promise<Buffer> {
    if (this.closed) return Promise.reject(new WorkerCallError('UNAVAILABLE', `worker ${this.workerId}: connection closed`, this.workerId, true));
    if (!this.supported) return Promise.reject(new UseGrpcRead(`worker ${this.workerId} does not speak the data protocol`));
    return this.pick().read(req, timeoutMs, signal, into);
  }

  close(): void {
    this.closed = true;
    for (const s of this.sockets) s?.close();
    this.sockets.fill(undefined);
  }

  /** The least busy live socket, opening one in an empty slot first. */
  private pick(): DataSocket {
    let best: DataSocket | undefined;
    for (let i = 0; i < this.sockets.length; i++) {
      let s = this.sockets[i];
      if (s === undefined) {
        s = new DataSocket(this.workerId, this.address, this.host, this.port, (dead, unsupported) => this.onDead(dead, unsupported));
        this.sockets[i] = s;
        return s;
      }
      if (best === undefined || s.load < best.load) best = s;
    }
    return best!;
  }

  private onDead(dead: DataSocket, unsupported: boolean): void {
    const i = this.sockets.indexOf(dead);
    if (i >= 0) this.sockets[i] = undefined;
    if (unsupported) this.unsupportedUntil = Date.now() + RECHECK_UNSUPPORTED_MS;
  }
}
