import * as grpc from '@grpc/grpc-js';
import { workerProto } from '../proto/load.js';
import { DataConnection, UseGrpcRead } from './data-connection.js';
import { fromGrpcError, WorkerCallError } from './errors.js';
import type { FileInfo, LoadProgress, TouchReport, WorkerStats } from './types.js';

/** Wire shapes as @grpc/proto-loader decodes them (camelCase, 64-bit ints as numbers). */
export interface WireLoadItem {
  path: string;
  offset: number;
  length: number;
}

export interface WireLoadRequest {
  paths?: string[];
  items?: WireLoadItem[];
  concurrency?: number;
  bandwidthBytesPerSec?: number;
  metadataOnly?: boolean;
}

/** The wire LoadProgress decodes to exactly the client's LoadProgress. */
export type WireLoadProgress = LoadProgress;

type WorkerStub = grpc.Client & Record<string, (...args: any[]) => any>;
type WorkerCtor = new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => WorkerStub;

let ctor: WorkerCtor | undefined;

/** Loads worker.proto once per process. */
export function workerServiceCtor(): WorkerCtor {
  if (!ctor) {
    const pkg = grpc.loadPackageDefinition(workerProto()) as any;
    ctor = pkg.hoard.worker.v1.Worker as WorkerCtor;
  }
  return ctor;
}

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': 256 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
  // The default 64 KiB HTTP/2 window stalls a streamed Read on every round trip (Read over
  // gRPC is the fallback for workers without the data protocol).
  'grpc-node.flow_control_window': 4 * 1024 * 1024,
  // Find a silently dead peer (node lost, no RST) instead of waiting for the call deadline.
  'grpc.keepalive_time_ms': 15_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 0,
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 5_000,
};

function toFileInfo(w: any): FileInfo {
  return {
    path: w.path,
    name: w.name,
    isDir: Boolean(w.isDir),
    size: Number(w.size),
    mtimeMs: Number(w.mtimeMs),
    version: w.version,
  };
}

/** A decoded Stats reply as WorkerStats (fields an older worker leaves out stay undefined or default). */
export function toStats(w: any, fallbackId: string): WorkerStats {
  return {
    workerId: w.workerId || fallbackId,
    capacityBytes: Number(w.capacityBytes),
    usedBytes: Number(w.usedBytes),
    pages: Number(w.pages),
    hits: Number(w.hits),
    misses: Number(w.misses),
    ufsBytesRead: Number(w.ufsBytesRead),
    evictions: Number(w.evictions),
    filesCached: Number(w.filesCached),
    writeBehindPending: Number(w.writeBehindPending ?? 0),
    ready: Boolean(w.ready),
    readyReason: String(w.readyReason ?? ''),
    tiers: (w.tiers ?? []).map((t: any) => ({
      medium: t.medium,
      capacityBytes: Number(t.capacityBytes),
      usedBytes: Number(t.usedBytes),
      pages: Number(t.pages),
    })),
    ...(w.ownedBytes !== undefined && w.ownedBytes !== null && { ownedBytes: Number(w.ownedBytes), ownedPages: Number(w.ownedPages ?? 0) }),
    shortCircuit: w.shortCircuit?.dir ? { dir: String(w.shortCircuit.dir), token: String(w.shortCircuit.token), pageSize: Number(w.shortCircuit.pageSize) } : undefined,
  };
}

/** Deadline of the liveness check made when a call ran out of time (see WorkerConnection.unlessAlive). */
const PROBE_TIMEOUT_MS = 2_000;

/** Where a read lands: the caller's buffer when it is big enough, else a new one. */
function destination(length: number, into?: Buffer): Buffer {
  return into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
}

/**
 * One worker: a gRPC channel for control calls and a data-protocol connection (same port) for
 * Read. Every call has a deadline and maps errors to HoardError.
 */
export class WorkerConnection {
  private readonly stub: WorkerStub;
  private readonly data: DataConnection;
  private probe: { sentAt: number; answered: Promise<boolean> } | undefined;
  private aliveProbeSentAt = -Infinity;

  constructor(
    readonly id: string,
    readonly address: string,
    private readonly timeoutMs: number,
  ) {
    const Ctor = workerServiceCtor();
    this.stub = new Ctor(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    this.data = new DataConnection(id, address);
  }

  private deadline(ms = this.timeoutMs): Date {
    return new Date(Date.now() + ms);
  }

  stat(path: string): Promise<FileInfo> {
    return this.unlessAlive(this.statOnce(path));
  }

  private statOnce(path: string): Promise<FileInfo> {
    return new Promise((resolve, reject) => {
      this.stub.stat({ path }, { deadline: this.deadline() }, (err: grpc.ServiceError | null, res: any) => {
        if (err) reject(fromGrpcError(err, this.id));
        else resolve(toFileInfo(res));
      });
    });
  }

  list(path: string): Promise<FileInfo[]> {
    return this.unlessAlive(this.listOnce(path));
  }

  private listOnce(path: string): Promise<FileInfo[]> {
    return new Promise((resolve, reject) => {
      const out: FileInfo[] = [];
      const call: grpc.ClientReadableStream<any> = this.stub.list({ path }, { deadline: this.deadline() });
      call.on('data', (f: any) => out.push(toFileInfo(f)));
      call.on('error', (err) => reject(fromGrpcError(err, this.id)));
      call.on('end', () => resolve(out));
    });
  }

  /**
   * Bytes [offset, offset+length) of a file at `version`; the result may be shorter only at EOF.
   * Goes over the data protocol; a worker that does not speak it (older version) is read with
   * the gRPC Read instead, with the same results and errors. With `into` (at least `length`
   * bytes) the bytes land there and the result is a view of it; after a failure its content is
   * undefined.
   */
  read(path: string, offset: number, length: number, version: string, signal?: AbortSignal, into?: Buffer, size?: number): Promise<Buffer> {
    return this.unlessAlive(this.readOnce(path, offset, length, version, signal, into, size));
  }

  private async readOnce(path: string, offset: number, length: number, version: string, signal?: AbortSignal, into?: Buffer, size?: number): Promise<Buffer> {
    if (this.data.supported) {
      try {
        return await this.data.read({ path, offset, length, version, size }, this.timeoutMs, signal, into);
      } catch (e) {
        if (!(e instanceof UseGrpcRead)) throw e;
      }
    }
    return this.readGrpc(path, offset, length, version, signal, into);
  }

  /**
   * read() through the gRPC Read RPC. Chunks are placed by their own offsets, so a worker that
   * streams out of order is still exact.
   */
  readGrpc(path: string, offset: number, length: number, version: string, signal?: AbortSignal, into?: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const buf = destination(length, into);
      let end = 0;
      let received = 0;
      let failed = false;
      const call: grpc.ClientReadableStream<any> = this.stub.read({ path, offset, length, version }, { deadline: this.deadline() });
      const onAbort = (): void => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      const fail = (e: unknown): void => {
        if (failed) return;
        failed = true;
        signal?.removeEventListener('abort', onAbort);
        reject(e);
      };
      call.on('data', (chunk: any) => {
        const data: Buffer = chunk.data;
        const at = Number(chunk.offset) - offset;
        if (at < 0 || at + data.length > length) {
          call.cancel();
          fail(fromGrpcError({ code: grpc.status.INTERNAL, details: `read ${path}: chunk at ${chunk.offset} (+${data.length}) outside the requested range` }, this.id));
          return;
        }
        data.copy(buf, at);
        received += data.length;
        end = Math.max(end, at + data.length);
      });
      call.on('error', (err) => fail(fromGrpcError(err, this.id)));
      call.on('end', () => {
        if (failed) return;
        signal?.removeEventListener('abort', onAbort);
        if (received !== end) {
          fail(fromGrpcError({ code: grpc.status.INTERNAL, details: `read ${path}: stream left a gap (${received} bytes over ${end})` }, this.id));
          return;
        }
        resolve(end === length ? buf : buf.subarray(0, end));
      });
    });
  }

  /** Streams Load progress; resolves with the last update. `timeoutMs` bounds the whole job. */
  load(req: WireLoadRequest, onProgress: (p: WireLoadProgress) => void, signal?: AbortSignal, timeoutMs?: number): Promise<WireLoadProgress | undefined> {
    return new Promise((resolve, reject) => {
      let last: WireLoadProgress | undefined;
      const opts = timeoutMs ? { deadline: this.deadline(timeoutMs) } : {};
      const call: grpc.ClientReadableStream<any> = this.stub.load(req, opts);
      const onAbort = (): void => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      call.on('data', (p: any) => {
        last = {
          filesDone: Number(p.filesDone),
          filesTotal: Number(p.filesTotal),
          bytesDone: Number(p.bytesDone),
          bytesTotal: Number(p.bytesTotal),
          failures: Number(p.failures),
          failedPaths: p.failedPaths ?? [],
          current: p.current ?? '',
          done: Boolean(p.done),
        };
        onProgress(last);
      });
      call.on('error', (err) => {
        signal?.removeEventListener('abort', onAbort);
        reject(fromGrpcError(err, this.id));
      });
      call.on('end', () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(last);
      });
    });
  }

  /**
   * Tells the worker which of its pages were read straight from its RAM disk and how often;
   * resolves with how many it still holds.
   */
  touch(report: TouchReport, timeoutMs = Math.min(this.timeoutMs, 5000)): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = { pageKeys: report.keys, reads: report.reads, unlistedReads: report.unlistedReads };
      this.stub.touch(req, { deadline: this.deadline(timeoutMs) }, (err: grpc.ServiceError | null, res: any) => {
        if (err) reject(fromGrpcError(err, this.id));
        else resolve(Number(res?.touched ?? 0));
      });
    });
  }

  stats(timeoutMs = Math.min(this.timeoutMs, 5000)): Promise<WorkerStats> {
    return new Promise((resolve, reject) => {
      this.stub.stats({}, { deadline: this.deadline(timeoutMs) }, (err: grpc.ServiceError | null, res: any) => {
        if (err) reject(fromGrpcError(err, this.id));
        else resolve(toStats(res, this.id));
      });
    });
  }

  /**
   * A call that ran out of time is a worker fault only if the worker itself is gone: one that
   * still answers a Stats call is alive and busy waiting on its under-storage (a store slower
   * than the worker's own --store-timeout), and must not be marked down, or its cached pages
   * would stop serving along with it.
   */
  private async unlessAlive<T>(call: Promise<T>): Promise<T> {
    const since = Date.now();
    try {
      return await call;
    } catch (e) {
      if (!(e instanceof WorkerCallError && e.workerFault && e.code === 'DEADLINE_EXCEEDED') || !(await this.alive(since))) throw e;
      throw new WorkerCallError('DEADLINE_EXCEEDED', `${e.message}; the worker answers, so its under-storage is slow`, this.id, false, { cause: e });
    }
  }

  /**
   * Whether the worker answered a Stats call sent at or after `since` (within PROBE_TIMEOUT_MS):
   * an answer from before the call began says nothing about now. Callers share probes.
   */
  private alive(since: number): Promise<boolean> {
    if (this.aliveProbeSentAt >= since) return Promise.resolve(true);
    if (this.probe === undefined || this.probe.sentAt < since) {
      const sentAt = Date.now();
      const answered = this.stats(PROBE_TIMEOUT_MS).then(
        () => {
          this.aliveProbeSentAt = Math.max(this.aliveProbeSentAt, sentAt);
          return true;
        },
        () => false,
      );
      const probe = { sentAt, answered };
      this.probe = probe;
      void answered.then(() => {
        if (this.probe === probe) this.probe = undefined;
      });
    }
    return this.probe.answered;
  }

  close(): void {
    this.stub.close();
    this.data.close();
  }
}
