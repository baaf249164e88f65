import { HoardError } from './errors.js';

/**
 * Request limits shared by every API (gRPC, the data protocol, FUSE, CSI): the same numbers
 * everywhere, so a path one API accepts is never refused by the next hop.
 */

/** Longest path in bytes, as Linux's PATH_MAX (4096, including the terminating NUL there). */
export const PATH_MAX = 4096;
/** Longest single path component in bytes, as Linux's NAME_MAX. */
export const NAME_MAX = 255;
/** Largest byte offset or file size a request may name (1 PiB: far beyond any object store's object). */
export const MAX_FILE_BYTES = 2 ** 50;
/** Largest byte count one read request may ask for; clients read in blocks far smaller. */
export const MAX_READ_BYTES = 2 ** 30;

/**
 * Refuses a path over PATH_MAX bytes or with a component over NAME_MAX bytes, naming the limit.
 * Cheap on the hot path: short strings cannot break either limit, so they skip the byte counts.
 */
export function checkPathLimits(path: string, field = 'path'): void {
  const problem = pathLimitProblem(path);
  if (problem !== undefined) throw new HoardError('INVALID_ARGUMENT', `${field}: ${problem}`);
}

/** Why a path breaks PATH_MAX or NAME_MAX, or undefined when it does not. */
export function pathLimitProblem(path: string): string | undefined {
  // A UTF-16 code unit is at most 3 UTF-8 bytes.
  if (path.length * 3 <= NAME_MAX) return undefined;
  const bytes = Buffer.byteLength(path, 'utf8');
  if (bytes > PATH_MAX) return `${bytes} bytes long; at most ${PATH_MAX} bytes (PATH_MAX) are allowed`;
  if (path.length <= NAME_MAX / 3) return undefined;
  let start = 0;
  while (start <= path.length) {
    let end = path.indexOf('/', start);
    if (end === -1) end = path.length;
    if (end - start > NAME_MAX / 3) {
      const n = Buffer.byteLength(path.slice(start, end), 'utf8');
      if (n > NAME_MAX) return `a component is ${n} bytes long ("${path.slice(start, start + 32)}…"); at most ${NAME_MAX} bytes (NAME_MAX) per name`;
    }
    start = end + 1;
  }
  return undefined;
}

/** Shortens text echoed back from a request (paths in error messages) so replies stay small. */
export function clip(text: string, max = 512): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}
