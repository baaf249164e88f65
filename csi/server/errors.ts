import { status, type ServiceError } from '@grpc/grpc-js';
import { isHoardError, type ErrorCode } from '../../lib/errors.js';

/** An error that carries the gRPC status code the CSI spec demands for its condition. */
export class CsiError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = 'CsiError';
  }
}

export const invalidArgument = (m: string) => new CsiError(status.INVALID_ARGUMENT, m);
export const notFound = (m: string) => new CsiError(status.NOT_FOUND, m);
export const alreadyExists = (m: string) => new CsiError(status.ALREADY_EXISTS, m);
export const failedPrecondition = (m: string) => new CsiError(status.FAILED_PRECONDITION, m);
export const internal = (m: string) => new CsiError(status.INTERNAL, m);
export const unavailable = (m: string) => new CsiError(status.UNAVAILABLE, m);

const HOARD_TO_GRPC: Record<ErrorCode, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  UNAVAILABLE: status.UNAVAILABLE,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  IS_DIRECTORY: status.INVALID_ARGUMENT,
  NOT_DIRECTORY: status.INVALID_ARGUMENT,
  READ_ONLY: status.FAILED_PRECONDITION,
  INTERNAL: status.INTERNAL,
};

/** Maps anything thrown by a handler to the status sent to the CO; unknown errors are INTERNAL. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  if (err instanceof CsiError) return { code: err.code, details: err.message };
  if (isHoardError(err)) return { code: HOARD_TO_GRPC[err.code], details: err.message };
  return { code: status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}
