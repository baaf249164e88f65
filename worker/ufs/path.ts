import { HoardError } from '../../lib/errors.js';
import { checkPathLimits, clip } from '../../lib/limits.js';

/**
 * Canonical namespace path: '/'-rooted, no empty or '.' segments, no trailing slash.
 * '..' is refused rather than resolved: a path that needs it is either a mistake or an attempt to
 * leave a mount, and silently collapsing it would hide both.
 */
// Already canonical: '/' or '/'-separated non-empty segments, none '.' or '..', no NUL. FUSE
// hands us such paths on every operation, so they skip the split below.
const CANONICAL = /^(?:\/(?!\.\.?(?:\/|$))[^/\0]+)+$/;

export function normalizePath(p: string): string {
  if (typeof p !== 'string') throw new HoardError('INVALID_ARGUMENT', 'path: expected a string like "/dir/file"');
  // Limits first: nothing below (regex, split, the under-storage, error messages) sees a huge path.
  checkPathLimits(p);
  if (p === '/' || CANONICAL.test(p)) return p;
  if (p.includes('\0')) throw new HoardError('INVALID_ARGUMENT', 'path: contains a NUL byte; remove it');
  if (!p.startsWith('/')) throw new HoardError('INVALID_ARGUMENT', `path "${clip(p)}": must be absolute, like "/${clip(p)}"`);
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') throw new HoardError('INVALID_ARGUMENT', `path "${clip(p)}": ".." is not allowed; use an absolute path inside the dataset`);
    parts.push(seg);
  }
  return '/' + parts.join('/');
}

/** Joins a normalised directory path and one child name. */
export function childPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** Last segment of a normalised path; '' for the root. */
export function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** Segments of a normalised path ('/' -> []). */
export function segments(p: string): string[] {
  return p === '/' ? [] : p.slice(1).split('/');
}

/** True when a single name could be a path segment we can serve (S3 keys and HTTP lists may hold odd ones). */
export function isServableName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}
