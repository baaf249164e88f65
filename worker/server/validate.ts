import { HoardError } from '../../lib/errors.js';
import { normalizePath } from '../ufs/path.js';

// Requests arrive from the network: every field is checked here before any layer below sees it,
// and every error names the field and what a valid value looks like.

export function requestPath(raw: unknown, field = 'path'): string {
  if (typeof raw !== 'string' || raw === '') {
    throw new HoardError('INVALID_ARGUMENT', `${field}: required, an absolute path like "/train/a.bin"`);
  }
  try {
    return normalizePath(raw);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new HoardError('INVALID_ARGUMENT', `${field}: ${msg}`);
  }
}

/** A byte offset or length: a non-negative safe integer (proto-loader hands int64 over as a number). */
export function requestCount(raw: unknown, field: string): number {
  const n = raw === undefined || raw === null ? 0 : Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new HoardError('INVALID_ARGUMENT', `${field}: ${String(raw)} is not valid; use a non-negative integer number of bytes`);
  }
  return n;
}

export function requestVersion(raw: unknown): string {
  if (raw === undefined || raw === null) return '';
  if (typeof raw !== 'string' || raw.includes('\0') || raw.length > 1024) {
    throw new HoardError('INVALID_ARGUMENT', 'version: expected the version string from Stat (at most 1024 characters), or empty');
  }
  return raw;
}
