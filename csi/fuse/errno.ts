import { isHoardError, type ErrorCode } from '../../lib/errors.js';

/** Linux errno values, negated as fuse-native callbacks expect them. */
export const Errno = {
  EPERM: -1,
  ENOENT: -2,
  EIO: -5,
  EBADF: -9,
  EACCES: -13,
  EEXIST: -17,
  ENOTDIR: -20,
  EISDIR: -21,
  EINVAL: -22,
  EROFS: -30,
  ENOSYS: -38,
} as const;

const BY_CODE: Partial<Record<ErrorCode, number>> = {
  NOT_FOUND: Errno.ENOENT,
  PERMISSION_DENIED: Errno.EACCES,
  INVALID_ARGUMENT: Errno.EINVAL,
  READ_ONLY: Errno.EROFS,
  IS_DIRECTORY: Errno.EISDIR,
  NOT_DIRECTORY: Errno.ENOTDIR,
  ALREADY_EXISTS: Errno.EEXIST,
};

/**
 * The one place a data-plane error becomes what the application's syscall returns. Anything the
 * application cannot act on (worker down, timeout, changed file, bugs) is EIO: a reader should
 * fail loudly rather than see a wrong errno that suggests the file is missing.
 */
export function errnoFor(err: unknown): number {
  if (isHoardError(err)) return BY_CODE[err.code] ?? Errno.EIO;
  return Errno.EIO;
}
