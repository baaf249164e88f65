import type * as grpc from '@grpc/grpc-js';
import { workerProto } from '../proto/load.js';

/** Wire shapes as proto-loader decodes them (camelCase, 64-bit ints as JS numbers). */
export interface StatRequest { path: string }
export interface ListRequest { path: string }
export interface ReadRequest { path: string; offset: number; length: number; version: string }
export interface ReadChunk { offset: number; data: Buffer }
export interface LoadItem { path: string; offset: number; length: number }
export interface LoadRequest {
  paths: string[];
  items: LoadItem[];
  concurrency: number;
  bandwidthBytesPerSec: number;
  metadataOnly: boolean;
}
// FileInfo and LoadProgress decode to exactly the shapes the client library declares.
export type { FileInfo as WireFileInfo, LoadProgress as WireLoadProgress } from '../client/types.js';

export const WORKER_SERVICE_NAME = 'hoard.worker.v1.Worker';

let cached: grpc.ServiceDefinition | undefined;

/**
 * The Worker service definition from worker/proto/worker.proto, with a hand-written encoder for
 * ReadChunk (the hot path): see encodeReadChunk.
 */
export function workerServiceDefinition(): grpc.ServiceDefinition {
  if (cached) return cached;
  const service = workerProto()[WORKER_SERVICE_NAME] as grpc.ServiceDefinition;
  cached = { ...service, Read: { ...service.Read, responseSerialize: encodeReadChunk } };
  return cached;
}

// grpc-js copies the serializer's result into its own framed buffer synchronously
// (ServerInterceptingCall.serializeMessage), so the encoding can live in one reused scratch
// buffer instead of a fresh allocation per chunk (protobufjs's default): the copy lands in warm
// memory instead of page-faulting a new 1 MiB buffer, and there is one less garbage buffer per chunk.
let scratch = Buffer.allocUnsafe(0);

/** Protobuf encoding of ReadChunk {1: int64 offset, 2: bytes data}. */
export function encodeReadChunk(msg: ReadChunk): Buffer {
  const need = msg.data.length + 32;
  if (scratch.length < need) scratch = Buffer.allocUnsafe(Math.max(need, 1 << 20) + 32);
  let p = 0;
  if (msg.offset > 0) {
    scratch[p++] = 0x08; // field 1, varint
    p = writeVarint(scratch, p, msg.offset);
  }
  scratch[p++] = 0x12; // field 2, length-delimited
  p = writeVarint(scratch, p, msg.data.length);
  p += msg.data.copy(scratch, p);
  return scratch.subarray(0, p);
}

function writeVarint(buf: Buffer, pos: number, value: number): number {
  let v = value;
  while (v >= 0x80) {
    buf[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[pos++] = v;
  return pos;
}
