import { DATA_PREFIX_BYTES, HEADER_BYTES } from './data-protocol.js';

/**
 * Incremental parser for the data protocol (see data-protocol.ts), shared by worker and client.
 * Input arrives in arbitrary pieces; small frames are handed over whole, while the one streamed
 * frame type (DATA) is handed over piecewise so the client can copy payload straight from the
 * socket's receive buffer into the caller's buffer, never assembling a frame.
 */
export interface FrameHandlers {
  /** A whole, non-streamed frame. `body` may be a view of transient input: use it before returning. */
  frame(type: number, id: number, body: Buffer): void;
  /** A streamed frame begins: its file offset, and how many payload bytes follow. */
  streamStart?(id: number, fileOffset: number, payloadLength: number): void;
  /** Payload of the current streamed frame, in order. A view of transient input: copy it out. */
  streamData?(chunk: Buffer): void;
  streamEnd?(): void;
  /** The input breaks the protocol; nothing more is parsed. `magic` is true when the peer's first bytes were wrong. */
  invalid(reason: string, magic: boolean): void;
}

export interface FrameReaderOptions {
  /** Bytes the peer must send first. */
  magic: Buffer;
  /** Largest body accepted for a frame type; undefined = the type is not allowed from this peer. */
  maxBody(type: number): number | undefined;
  /** The frame type whose body is streamed (its first DATA_PREFIX_BYTES are the file offset). */
  streamed?: number;
}

const enum State {
  Magic,
  Header,
  Prefix,
  Payload,
  Body,
  Dead,
}

export class FrameReader {
  private state = State.Magic;
  /** Holds the magic, a header or a DATA prefix while it arrives in pieces. */
  private readonly small = Buffer.allocUnsafe(Math.max(HEADER_BYTES, DATA_PREFIX_BYTES, 32));
  private smallFill = 0;
  private type = 0;
  private id = 0;
  private remaining = 0;
  private body: Buffer | undefined;
  private bodyFill = 0;

  constructor(
    private readonly opts: FrameReaderOptions,
    private readonly on: FrameHandlers,
  ) {
    if (opts.magic.length > this.small.length) throw new RangeError('magic longer than the header scratch');
  }

  get dead(): boolean {
    return this.state === State.Dead;
  }

  /** Payload bytes of the current streamed frame still to come (0 outside one). */
  get payloadRemaining(): number {
    return this.state === State.Payload ? this.remaining : 0;
  }

  /**
   * Accounts for `n` payload bytes of the current streamed frame that the caller received
   * straight into its own buffer (streamData is not called for them).
   */
  payloadArrived(n: number): void {
    if (this.state !== State.Payload || n > this.remaining) throw new RangeError(`payloadArrived(${n}) outside a streamed payload`);
    this.remaining -= n;
    if (this.remaining === 0) this.endStream();
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && this.state !== State.Dead) {
      switch (this.state) {
        case State.Magic: {
          pos = this.gather(chunk, pos, this.opts.magic.length);
          if (this.smallFill < this.opts.magic.length) break;
          this.smallFill = 0;
          if (!this.small.subarray(0, this.opts.magic.length).equals(this.opts.magic)) this.fail('the peer does not speak the Hoard data protocol', true);
          else this.state = State.Header;
          break;
        }
        case State.Header: {
          let head: Buffer;
          let at: number;
          if (this.smallFill === 0 && chunk.length - pos >= HEADER_BYTES) {
            head = chunk;
            at = pos;
            pos += HEADER_BYTES;
          } else {
            pos = this.gather(chunk, pos, HEADER_BYTES);
            if (this.smallFill < HEADER_BYTES) break;
            this.smallFill = 0;
            head = this.small;
            at = 0;
          }
          this.beginFrame(head[at], head.readUInt32BE(at + 1), head.readUInt32BE(at + 5));
          break;
        }
        case State.Prefix: {
          pos = this.gather(chunk, pos, DATA_PREFIX_BYTES);
          if (this.smallFill < DATA_PREFIX_BYTES) break;
          this.smallFill = 0;
          this.state = State.Payload;
          this.on.streamStart?.(this.id, this.small.readUInt32BE(0) * 2 ** 32 + this.small.readUInt32BE(4), this.remaining);
          if (this.remaining === 0) this.endStream();
          break;
        }
        case State.Payload: {
          const n = Math.min(this.remaining, chunk.length - pos);
          this.on.streamData?.(pos === 0 && n === chunk.length ? chunk : chunk.subarray(pos, pos + n));
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.endStream();
          break;
        }
        case State.Body: {
          const n = Math.min(this.remaining, chunk.length - pos);
          if (this.body === undefined && this.bodyFill === 0 && n === this.remaining) {
            // The whole body is in this piece: hand over a view, no copy.
            this.state = State.Header;
            this.remaining = 0;
            this.on.frame(this.type, this.id, chunk.subarray(pos, pos + n));
            pos += n;
            break;
          }
          this.body ??= Buffer.allocUnsafe(this.remaining);
          chunk.copy(this.body, this.bodyFill, pos, pos + n);
          this.bodyFill += n;
          this.remaining -= n;
          pos += n;
          if (this.remaining === 0) {
            const body = this.body;
            this.body = undefined;
            this.bodyFill = 0;
            this.state = State.Header;
            this.on.frame(this.type, this.id, body);
          }
          break;
        }
      }
    }
  }

  private beginFrame(type: number, id: number, length: number): void {
    this.type = type;
    this.id = id;
    if (type === this.opts.streamed && this.opts.streamed !== undefined) {
      if (length < DATA_PREFIX_BYTES) return this.fail(`frame type ${type} with a ${length}-byte body is too short`, false);
      this.remaining = length - DATA_PREFIX_BYTES;
      this.state = State.Prefix;
      return;
    }
    const max = this.opts.maxBody(type);
    if (max === undefined) return this.fail(`unexpected frame type ${type}`, false);
    if (length > max) return this.fail(`frame type ${type} has a ${length}-byte body; at most ${max} allowed`, false);
    if (length === 0) {
      this.state = State.Header;
      this.on.frame(type, id, EMPTY);
      return;
    }
    this.remaining = length;
    this.state = State.Body;
  }

  private endStream(): void {
    this.state = State.Header;
    this.on.streamEnd?.();
  }

  /** Copies up to `want - smallFill` bytes into the scratch; returns the new position. */
  private gather(chunk: Buffer, pos: number, want: number): number {
    const n = Math.min(want - this.smallFill, chunk.length - pos);
    chunk.copy(this.small, this.smallFill, pos, pos + n);
    this.smallFill += n;
    return pos + n;
  }

  private fail(reason: string, magic: boolean): void {
    this.state = State.Dead;
    this.body = undefined;
    this.on.invalid(reason, magic);
  }
}

const EMPTY = Buffer.alloc(0);
