/**
 * Hoard data protocol, version 1: bulk Read on the worker's gRPC port without HTTP/2.
 *
 * gRPC-over-HTTP/2 in Node costs several copies and a lot of per-message work per chunk, which
 * caps one client near 400 MiB/s; this protocol lets the worker write cached pages straight to
 * the socket and the client land them straight in the caller's buffer. Control RPCs (Stat, List,
 * Load, Stats, and Read as a fallback) stay on gRPC. Both share one TCP port: the worker looks at
 * the first bytes of each connection (worker/server/listener.ts).
 *
 * Connection: the client opens TCP and sends MAGIC ("HOARD-DATA/1\n"); the worker answers with
 * MAGIC. A peer that answers anything else does not speak the protocol (an older worker: use
 * gRPC). The client may send requests right after its MAGIC without waiting for the answer.
 *
 * Then both sides send frames, all integers big-endian:
 *
 *   type u8 | id u32 | body length u32 | body
 *
 * Client -> worker (`id` is the client's request id, unique among its requests in flight):
 *   READ   body = offset u64 | length u64 | path length u16 | path UTF-8 | version length u16 | version UTF-8
 *                  [| size u64]
 *          The bytes [offset, offset+length) of the file at `version` ("" = whatever is current).
 *          `size` is optional: the file's size as the client stat'ed it at `version`. A worker that
 *          has no metadata of its own for the path then reads with it instead of asking the
 *          under-storage for a stat first; the under-storage read checks the version anyway.
 *   CANCEL body = empty. Stop serving `id`; frames already sent for it may still arrive.
 *
 * Worker -> client (`id` echoes the request):
 *   DATA   body = file offset u64 | bytes. Any order; together the DATA frames of a request cover
 *          the requested range clamped at EOF exactly once.
 *   END    body = empty. The request is complete.
 *   ERROR  body = JSON {"code": HoardError code, "message": string}. The request failed; same codes
 *          and meaning as the gRPC Read's hoard-code trailer.
 *
 * Frames of different requests interleave freely (never inside a frame). A READ body longer than
 * MAX_REQUEST_BODY, an unknown frame type or a duplicate id in flight is a protocol error: the
 * worker closes that connection. Per connection the worker serves at most MAX_IN_FLIGHT requests
 * at once that may wait on the under-storage; a request whose pages it holds (any tier) is served
 * at once whatever waits, so a hung store never holds up cached reads. Requests beyond that wait
 * in order; once MAX_BACKLOG wait, the worker stops reading frames until a slot frees up.
 */

import { PATH_MAX } from '../../lib/limits.js';

export const MAGIC = Buffer.from('HOARD-DATA/1\n', 'latin1');

export const FrameType = {
  READ: 0x01,
  CANCEL: 0x02,
  DATA: 0x10,
  END: 0x11,
  ERROR: 0x12,
} as const;

export const HEADER_BYTES = 9;
/** DATA bodies start with the file offset. */
export const DATA_PREFIX_BYTES = 8;
export const MAX_REQUEST_BODY = 16 * 1024;
/** The same path limit as every other API (the worker answers a longer one with INVALID_ARGUMENT). */
export const MAX_PATH_BYTES = PATH_MAX;
export const MAX_VERSION_BYTES = 4 * 1024;
/** Largest ERROR body a client accepts. */
export const MAX_ERROR_BODY = 64 * 1024;
export const MAX_IN_FLIGHT = 64;
export const MAX_BACKLOG = 256;

export interface ReadFrame {
  offset: number;
  length: number;
  path: string;
  version: string;
  /** The file's size at `version`, as the client knows it (see READ above). */
  size?: number;
}

const TWO_32 = 2 ** 32;

export function writeU64(buf: Buffer, value: number, at: number): void {
  buf.writeUInt32BE(Math.floor(value / TWO_32), at);
  buf.writeUInt32BE(value >>> 0, at + 4);
}

/** A u64 as a JS number; NaN when it does not fit a safe integer (the validator refuses it). */
export function readU64(buf: Buffer, at: number): number {
  const v = buf.readUInt32BE(at) * TWO_32 + buf.readUInt32BE(at + 4);
  return Number.isSafeInteger(v) ? v : NaN;
}

export function writeHeader(buf: Buffer, type: number, id: number, bodyLength: number): void {
  buf[0] = type;
  buf.writeUInt32BE(id, 1);
  buf.writeUInt32BE(bodyLength, 5);
}

/** A READ frame; throws RangeError when path or version are too long to send. */
export function encodeRead(id: number, req: ReadFrame): Buffer {
  for (const [name, v] of [['offset', req.offset], ['length', req.length]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} ${v} is not a non-negative integer`);
  }
  const pathLen = Buffer.byteLength(req.path, 'utf8');
  const versionLen = Buffer.byteLength(req.version, 'utf8');
  if (pathLen > MAX_PATH_BYTES) throw new RangeError(`path is ${pathLen} bytes; at most ${MAX_PATH_BYTES}`);
  if (versionLen > MAX_VERSION_BYTES) throw new RangeError(`version is ${versionLen} bytes; at most ${MAX_VERSION_BYTES}`);
  if (req.size !== undefined && (!Number.isSafeInteger(req.size) || req.size < 0)) throw new RangeError(`size ${req.size} is not a non-negative integer`);
  const body = 8 + 8 + 2 + pathLen + 2 + versionLen + (req.size === undefined ? 0 : 8);
  const buf = Buffer.allocUnsafe(HEADER_BYTES + body);
  writeHeader(buf, FrameType.READ, id, body);
  let p = HEADER_BYTES;
  writeU64(buf, req.offset, p);
  writeU64(buf, req.length, p + 8);
  p = buf.writeUInt16BE(pathLen, p + 16);
  p += buf.write(req.path, p, 'utf8');
  p = buf.writeUInt16BE(versionLen, p);
  p += buf.write(req.version, p, 'utf8');
  if (req.size !== undefined) writeU64(buf, req.size, p);
  return buf;
}

/** Decodes a READ body; throws RangeError when its lengths do not add up. */
export function decodeRead(body: Buffer): ReadFrame {
  if (body.length < 20) throw new RangeError(`READ body of ${body.length} bytes is too short`);
  const offset = readU64(body, 0);
  const length = readU64(body, 8);
  const pathLen = body.readUInt16BE(16);
  if (18 + pathLen + 2 > body.length) throw new RangeError('READ path runs past the frame');
  const path = body.toString('utf8', 18, 18 + pathLen);
  const versionLen = body.readUInt16BE(18 + pathLen);
  const vStart = 20 + pathLen;
  const vEnd = vStart + versionLen;
  if (vEnd !== body.length && vEnd + 8 !== body.length) throw new RangeError('READ version is not followed by the end of the frame or a size');
  const frame: ReadFrame = { offset, length, path, version: body.toString('utf8', vStart, vEnd) };
  if (vEnd + 8 === body.length) frame.size = readU64(body, vEnd);
  return frame;
}

export function encodeEmpty(type: number, id: number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES);
  writeHeader(buf, type, id, 0);
  return buf;
}

/** Header plus file offset of a DATA frame; the payload follows as its own buffer (no copy). */
export function encodeDataHead(id: number, fileOffset: number, payloadLength: number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + DATA_PREFIX_BYTES);
  writeHeader(buf, FrameType.DATA, id, DATA_PREFIX_BYTES + payloadLength);
  writeU64(buf, fileOffset, HEADER_BYTES);
  return buf;
}

export function encodeError(id: number, code: string, message: string): Buffer {
  let json = Buffer.from(JSON.stringify({ code, message }), 'utf8');
  if (json.length > MAX_ERROR_BODY) json = Buffer.from(JSON.stringify({ code, message: `${message.slice(0, 4096)}…` }), 'utf8');
  const buf = Buffer.allocUnsafe(HEADER_BYTES + json.length);
  writeHeader(buf, FrameType.ERROR, id, json.length);
  json.copy(buf, HEADER_BYTES);
  return buf;
}

export function decodeError(body: Buffer): { code: string; message: string } {
  try {
    const v = JSON.parse(body.toString('utf8')) as { code?: unknown; message?: unknown };
    return { code: typeof v.code === 'string' ? v.code : 'INTERNAL', message: typeof v.message === 'string' ? v.message : 'worker sent an error without a message' };
  } catch {
    return { code: 'INTERNAL', message: 'worker sent an unreadable ERROR frame' };
  }
}
