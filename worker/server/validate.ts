import { HoardError } from '../../lib/errors.js';
import { checkPathLimits, clip, MAX_FILE_BYTES, MAX_READ_BYTES } from '../../lib/limits.js';
import { normalizePath } from '../ufs/path.js';

// Requests arrive from the network: every field is checked here before any layer below sees it,
// and every error names the field and what a valid value looks like. gRPC handlers and the data
// protocol share these, so a request means the same on either channel.

export function requestPath(raw: unknown, field = 'path'): string {
  if (typeof raw !== 'string' || raw === '') {
    throw new HoardError('INVALID_ARGUMENT', `${field}: required, an absolute path like "/train/a.bin"`);
  }
  checkPathLimits(raw, field);
  try {
    return normalizePath(raw);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new HoardError('INVALID_ARGUMENT', `${field}: ${msg}`);
  }
}

/**
 * A whole number in [0, max]: proto-loader hands 64-bit ints over as numbers (a u64 past 2^53
 * arrives rounded, hence not a safe integer) and the data protocol decodes too-large u64s as NaN;
 * both are refused here, before anything sizes an array or a buffer by them.
 */
export function requestInteger(raw: unknown, field: string, max: number, unit = 'bytes'): number {
  const n = raw === undefined || raw === null ? 0 : typeof raw === 'number' || typeof raw === 'string' || typeof raw === 'bigint' ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n > max) {
    throw new HoardError('INVALID_ARGUMENT', `${field}: ${clip(String(raw), 64)} is not valid; use a whole number of ${unit} from 0 to ${max}`);
  }
  return n;
}

/** A byte offset or file size: 0 to MAX_FILE_BYTES. */
export function requestCount(raw: unknown, field: string): number {
  return requestInteger(raw, field, MAX_FILE_BYTES);
}

export function requestVersion(raw: unknown): string {
  if (raw === undefined || raw === null) return '';
  if (typeof raw !== 'string' || raw.includes('\0') || raw.length > 1024) {
    throw new HoardError('INVALID_ARGUMENT', 'version: expected the version string from Stat (at most 1024 characters), or empty');
  }
  return raw;
}

/** A read as both channels take it (gRPC Read, data-protocol READ), checked field by field. */
export interface CheckedRead {
  path: string;
  offset: number;
  length: number;
  version: string;
  /** The file's size as the client knows it (data protocol only). */
  size?: number;
}

export function checkedRead(req: { path?: unknown; offset?: unknown; length?: unknown; version?: unknown; size?: unknown }): CheckedRead {
  const out: CheckedRead = {
    path: requestPath(req.path),
    offset: requestCount(req.offset, 'offset'),
    length: requestInteger(req.length, 'length', MAX_READ_BYTES),
    version: requestVersion(req.version),
  };
  if (req.size !== undefined) out.size = requestCount(req.size, 'size');
  return out;
}
