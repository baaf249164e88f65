import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { HoardError, isHoardError, type ErrorCode } from '../../lib/errors.js';

const FROM_GRPC: Partial<Record<number, ErrorCode>> = {
  [GrpcStatus.INVALID_ARGUMENT]: 'INVALID_ARGUMENT',
  [GrpcStatus.NOT_FOUND]: 'NOT_FOUND',
  [GrpcStatus.ALREADY_EXISTS]: 'ALREADY_EXISTS',
  [GrpcStatus.PERMISSION_DENIED]: 'PERMISSION_DENIED',
  [GrpcStatus.UNAUTHENTICATED]: 'PERMISSION_DENIED',
  [GrpcStatus.FAILED_PRECONDITION]: 'FAILED_PRECONDITION',
  [GrpcStatus.DEADLINE_EXCEEDED]: 'DEADLINE_EXCEEDED',
  [GrpcStatus.UNAVAILABLE]: 'UNAVAILABLE',
  [GrpcStatus.CANCELLED]: 'UNAVAILABLE',
};

/** Codes that are a verdict about the request itself: every worker and the UFS would say the same. */
const ANSWERS = new Set<ErrorCode>([
  'NOT_FOUND',
  'INVALID_ARGUMENT',
  'FAILED_PRECONDITION',
  'PERMISSION_DENIED',
  'ALREADY_EXISTS',
  'IS_DIRECTORY',
  'NOT_DIRECTORY',
  'READ_ONLY',
]);

const KNOWN = new Set<string>([...ANSWERS, 'UNAVAILABLE', 'DEADLINE_EXCEEDED', 'INTERNAL']);

/**
 * A worker call failed. `workerFault` is true when the worker itself could not be reached or did
 * not answer in time (mark it down, go to the next owner); false when the worker answered with
 * an error it met further down (e.g. its UFS is unreachable), which says nothing about its health.
 */
export class WorkerCallError extends HoardError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly workerId: string,
    readonly workerFault: boolean,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** The worker's own HoardError code, if it sent one (trailer `hoard-code`). */
function sentCode(md: Metadata | undefined): ErrorCode | undefined {
  const v = md?.get('hoard-code')?.[0];
  return typeof v === 'string' && KNOWN.has(v) ? (v as ErrorCode) : undefined;
}

export function fromGrpcError(e: unknown, workerId: string): WorkerCallError {
  if (e instanceof WorkerCallError) return e;
  if (isHoardError(e)) return new WorkerCallError(e.code, e.message, workerId, false, { cause: e });
  const se = e as Partial<ServiceError>;
  const grpcCode = typeof se.code === 'number' ? se.code : GrpcStatus.UNKNOWN;
  const sent = sentCode(se.metadata);
  const code = sent ?? FROM_GRPC[grpcCode] ?? 'INTERNAL';
  const details = se.details || se.message || String(e);
  // A status the worker produced carries its trailers; a transport failure (refused, reset,
  // deadline) is synthesised locally by grpc-js with no hoard-code.
  const workerFault = sent === undefined && (grpcCode === GrpcStatus.UNAVAILABLE || grpcCode === GrpcStatus.DEADLINE_EXCEEDED || grpcCode === GrpcStatus.CANCELLED || grpcCode === GrpcStatus.UNKNOWN || grpcCode === GrpcStatus.INTERNAL);
  return new WorkerCallError(code, `worker ${workerId}: ${details}`, workerId, workerFault, { cause: e });
}

/**
 * An error the worker itself reported over the data protocol (ERROR frame): the same verdict as a
 * gRPC status carrying hoard-code, so the same WorkerCallError, never a worker fault.
 */
export function fromWorkerError(code: string, message: string, workerId: string): WorkerCallError {
  const known = KNOWN.has(code) ? (code as ErrorCode) : 'INTERNAL';
  return new WorkerCallError(known, `worker ${workerId}: ${message}`, workerId, false);
}

/**
 * The worker is up and said its under-storage is slow or down (or it is alive but could not
 * finish in time because of it). Another worker, or this client reading the store itself, would
 * wait on the same store: the caller gets the error at once, and the worker stays up for the
 * reads its cache can serve.
 */
export function isStoreFailure(e: unknown): boolean {
  return e instanceof WorkerCallError && !e.workerFault && (e.code === 'UNAVAILABLE' || e.code === 'DEADLINE_EXCEEDED');
}

/** True when another worker or the UFS might do better: the error is not a verdict on the request. */
export function isRetryable(e: unknown): boolean {
  return !(isHoardError(e) && ANSWERS.has(e.code));
}
