import * as grpc from '@grpc/grpc-js';
import { isHoardError, type ErrorCode } from '../../lib/errors.js';
import { clip } from '../../lib/limits.js';
import type { Logger } from '../../lib/log.js';

const Status = grpc.status;

/** The one place HoardError codes become gRPC status codes. */
const GRPC_STATUS: Record<ErrorCode, grpc.status> = {
  INVALID_ARGUMENT: Status.INVALID_ARGUMENT,
  NOT_FOUND: Status.NOT_FOUND,
  ALREADY_EXISTS: Status.ALREADY_EXISTS,
  PERMISSION_DENIED: Status.PERMISSION_DENIED,
  FAILED_PRECONDITION: Status.FAILED_PRECONDITION,
  UNAVAILABLE: Status.UNAVAILABLE,
  DEADLINE_EXCEEDED: Status.DEADLINE_EXCEEDED,
  // Asking to read a directory (or list a file) is a wrong argument, not a changed file:
  // FAILED_PRECONDITION is reserved for "the file changed under you, stat again".
  IS_DIRECTORY: Status.INVALID_ARGUMENT,
  NOT_DIRECTORY: Status.INVALID_ARGUMENT,
  READ_ONLY: Status.PERMISSION_DENIED,
  INTERNAL: Status.INTERNAL,
};

const ERRNO: Record<string, ErrorCode> = {
  ENOENT: 'NOT_FOUND',
  EACCES: 'PERMISSION_DENIED',
  EPERM: 'PERMISSION_DENIED',
  EISDIR: 'IS_DIRECTORY',
  ENOTDIR: 'NOT_DIRECTORY',
  EROFS: 'READ_ONLY',
  ETIMEDOUT: 'DEADLINE_EXCEEDED',
  ECONNREFUSED: 'UNAVAILABLE',
  ECONNRESET: 'UNAVAILABLE',
};

/** Trailer key carrying the exact HoardError code, so clients can rebuild it losslessly. */
export const HOARD_CODE_KEY = 'hoard-code';

/** The HoardError code for any thrown value (plain errno errors from Node included). */
export function errorCodeOf(err: unknown): ErrorCode {
  if (isHoardError(err)) return err.code;
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  if (errno && ERRNO[errno]) return ERRNO[errno];
  return 'INTERNAL';
}

/** A gRPC error for the wire: status code, a message without stack, and the hoard-code trailer. */
export function toServiceError(err: unknown): Partial<grpc.ServiceError> {
  const code = errorCodeOf(err);
  const metadata = new grpc.Metadata();
  metadata.set(HOARD_CODE_KEY, code);
  // The message travels as the grpc-message trailer: one that echoes a huge request (a 100 KB
  // path) would outgrow the peer's header-list limit, and the call would never end.
  const message = clip(err instanceof Error ? err.message : String(err), 2048);
  return { code: GRPC_STATUS[code], details: message, message, metadata };
}

export function grpcStatusOf(code: ErrorCode): grpc.status {
  return GRPC_STATUS[code];
}

/** The gRPC status name (metrics label) a failure ends a call with. */
export function statusNameOf(err: unknown): string {
  return Status[GRPC_STATUS[errorCodeOf(err)]];
}

/** Our own bugs are errors; refused requests (bad path, missing file) are routine, so debug. */
export function logFailure(logger: Logger, method: string, err: unknown): void {
  const code = errorCodeOf(err);
  const msg = err instanceof Error ? err.message : String(err);
  if (code === 'INTERNAL') logger.error({ method, err }, 'rpc failed');
  else logger.debug({ method, code, msg }, 'rpc refused');
}
