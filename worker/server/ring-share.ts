import { HoardError } from '../../lib/errors.js';
import { blockKey, DEFAULT_BLOCK_SIZE, HashRing } from '../client/ring.js';
import { WORKER_ID } from './config.js';
import { requestInteger } from './validate.js';

/** More workers than any Dataset runs: a longer list is a mistake, not a ring. */
const MAX_RING = 4096;
const MAX_BLOCK_SIZE = 2 ** 40;
/** Pages weighed between two turns of the event loop: a large cache must not hold up reads. */
const SLICE = 4096;

/** What Stats was asked to weigh pages by: the clients' ring and block size; undefined when it names no ring. */
export interface RingRequest {
  ring: HashRing;
  blockSize: number;
}

export function checkedRingRequest(req: { ring?: unknown; blockSize?: unknown }): RingRequest | undefined {
  const ids = req.ring === undefined || req.ring === null ? [] : req.ring;
  if (!Array.isArray(ids) || ids.length > MAX_RING || ids.some((id) => typeof id !== 'string' || !WORKER_ID.test(id))) {
    throw new HoardError('INVALID_ARGUMENT', `ring: expected at most ${MAX_RING} worker ids (letters, digits, '-', '_', '.'; e.g. imagenet-worker-0), the ring the clients use`);
  }
  const size = requestInteger(req.blockSize, 'block_size', MAX_BLOCK_SIZE);
  if (size !== 0 && size < 4096) throw new HoardError('INVALID_ARGUMENT', `block_size: ${size}; use the clients' block size (at least 4096 bytes), or 0 for the default ${DEFAULT_BLOCK_SIZE}`);
  if (ids.length === 0) return undefined;
  return { ring: new HashRing(ids as string[]), blockSize: size || DEFAULT_BLOCK_SIZE };
}

/**
 * How many of the cached pages `self` owns under the ring: those whose block the clients place
 * on it first, so readers get them from it as hits. A page belongs to the block of its first
 * byte. Each block is placed once per call, and the walk yields to the event loop between slices.
 */
export async function ownedShare(pages: Iterable<[key: string, bytes: number]>, self: string, req: RingRequest, pageSize: number): Promise<{ bytes: number; pages: number }> {
  const out = { bytes: 0, pages: 0 };
  if (!req.ring.has(self)) return out;
  const placed = new Map<string, boolean>();
  let n = 0;
  for (const [key, bytes] of pages) {
    const path = key.slice(0, key.indexOf('\0'));
    const index = Number(key.slice(key.lastIndexOf('\0') + 1));
    const bk = blockKey(path, Math.floor((index * pageSize) / req.blockSize));
    let mine = placed.get(bk);
    if (mine === undefined) placed.set(bk, (mine = req.ring.owners(bk, 1)[0] === self));
    if (mine) {
      out.bytes += bytes;
      out.pages++;
    }
    if (++n % SLICE === 0) await new Promise((r) => setImmediate(r));
  }
  return out;
}
