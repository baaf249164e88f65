import { combine, hash64 } from './hash.js';

/** Large files are placed on the ring per block of this many bytes unless a client is told otherwise. */
export const DEFAULT_BLOCK_SIZE = 64 * 1024 * 1024;

/**
 * The ring key of block `block` of `path` (whole files below the block size are block 0): clients
 * place reads and loads by it, and a worker weighs its cached pages by it (Stats' owned bytes), so
 * both must form it here.
 */
export function blockKey(path: string, block: number): string {
  return `${path}#${block}`;
}

/**
 * Placement of keys (paths, or `path#block`) on workers by rendezvous (highest-random-weight)
 * hashing: each worker scores every key and the highest scores own it. Chosen over a virtual-node
 * ring because it is exactly balanced in expectation with no tuning, adding a worker moves only
 * the keys it now wins (~1/(n+1)), and a removed worker's keys spread evenly over all the others
 * instead of onto one ring neighbour (see test/bench/ring.ts for the measured figures).
 * Workers are placed by their stable id (pod hostname), never by address, so a restarted pod with
 * a new IP keeps its keys.
 */
export class HashRing {
  private readonly nodes = new Map<string, [number, number]>();

  constructor(ids: Iterable<string> = []) {
    for (const id of ids) this.add(id);
  }

  add(id: string): void {
    if (!id) throw new Error('HashRing.add: worker id must be a non-empty string');
    if (!this.nodes.has(id)) this.nodes.set(id, hash64(`hoard-node:${id}`));
  }

  remove(id: string): void {
    this.nodes.delete(id);
  }

  has(id: string): boolean {
    return this.nodes.has(id);
  }

  get size(): number {
    return this.nodes.size;
  }

  ids(): string[] {
    return [...this.nodes.keys()];
  }

  /** Up to `n` distinct worker ids for `key`, best first; the same on every client. */
  owners(key: string, n = 1): string[] {
    const want = Math.min(Math.max(0, Math.floor(n)), this.nodes.size);
    if (want === 0) return [];
    const k = hash64(key);
    // Top-`want` selection by insertion; `want` is a replication factor (1-3), so this beats sorting.
    const topIds: string[] = [];
    const topScores: number[] = [];
    for (const [id, h] of this.nodes) {
      const s = combine(k, h);
      if (topIds.length === want && !beats(s, id, topScores[want - 1]!, topIds[want - 1]!)) continue;
      let i = Math.min(topIds.length, want - 1);
      while (i > 0 && beats(s, id, topScores[i - 1]!, topIds[i - 1]!)) i--;
      topIds.splice(i, 0, id);
      topScores.splice(i, 0, s);
      if (topIds.length > want) {
        topIds.pop();
        topScores.pop();
      }
    }
    return topIds;
  }
}

// Ties (vanishingly rare with 53-bit scores) break by id so every client agrees.
function beats(s: number, id: string, s2: number, id2: string): boolean {
  return s > s2 || (s === s2 && id < id2);
}
