import { HoardError } from '../../lib/errors.js';
import { MAX_KEY_BYTES } from '../store/page-file.js';
import { requestInteger } from './validate.js';

/** At most this many keys per Touch: a client flushes what it read in the last second. */
const MAX_TOUCH_KEYS = 65_536;
/** A page's reads in one report (the wire's uint32). */
const MAX_READS_PER_PAGE = 0xffff_ffff;
/**
 * Unnamed reads in one report. A client reports every second; even a million 4 KiB reads a
 * second for a year stays far below this, so a larger number is a mistake, not a workload.
 */
const MAX_UNLISTED_READS = 2 ** 45;

/** A Touch request, checked: the pages read from the RAM disk and how often, and the reads of unnamed pages. */
export interface CheckedTouch {
  keys: string[];
  reads: number[];
  unlistedReads: number;
}

export function checkedTouch(req: { pageKeys?: unknown; reads?: unknown; unlistedReads?: unknown }): CheckedTouch {
  const keys = req.pageKeys === undefined || req.pageKeys === null ? [] : req.pageKeys;
  if (!Array.isArray(keys) || keys.length > MAX_TOUCH_KEYS || keys.some((k) => typeof k !== 'string' || k.length > MAX_KEY_BYTES)) {
    throw new HoardError('INVALID_ARGUMENT', `page_keys: expected at most ${MAX_TOUCH_KEYS} page keys (path NUL version NUL index), each under ${MAX_KEY_BYTES} bytes`);
  }
  const raw = req.reads === undefined || req.reads === null ? [] : req.reads;
  if (!Array.isArray(raw) || (raw.length !== 0 && raw.length !== keys.length)) {
    throw new HoardError('INVALID_ARGUMENT', `reads: ${Array.isArray(raw) ? raw.length : 'not a list of'} counts for ${keys.length} page keys; give one count per key, in the same order, or none (once each)`);
  }
  const reads = raw.length === 0 ? keys.map(() => 1) : raw.map((n, i) => requestInteger(n, `reads[${i}]`, MAX_READS_PER_PAGE, 'reads'));
  const zero = reads.indexOf(0);
  if (zero >= 0) throw new HoardError('INVALID_ARGUMENT', `reads[${zero}]: 0; a page is reported only after it was read, so each count is at least 1`);
  return { keys: keys as string[], reads, unlistedReads: requestInteger(req.unlistedReads, 'unlisted_reads', MAX_UNLISTED_READS, 'reads') };
}
