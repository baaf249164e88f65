/**
 * One error vocabulary for all layers; gRPC status codes, errno values and CSI codes are mapped
 * from it at each boundary (worker/server, csi/fuse, csi/server).
 */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'FAILED_PRECONDITION'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'IS_DIRECTORY'
  | 'NOT_DIRECTORY'
  | 'READ_ONLY'
  | 'INTERNAL';

export class HoardError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HoardError';
  }
}

export function isHoardError(e: unknown, code?: ErrorCode): e is HoardError {
  return e instanceof HoardError && (code === undefined || e.code === code);
}
