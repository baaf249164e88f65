// In-memory Ufs for the page store tests: counts calls and records every ranged read, can hold
// reads behind a gate (to line up concurrent misses) and can fail a read stream midway.
import { Readable } from 'node:stream';
import { HoardError } from '../lib/errors.js';
import type { Ufs, UfsEntry } from '../worker/ufs/types.js';

interface MemFile {
  data: Buffer;
  version: string;
  mtimeMs: number;
}

export class MemoryUfs implements Ufs {
  readonly files = new Map<string, MemFile>();
  readonly calls = { stat: 0, list: 0, read: 0 };
  readonly reads: { path: string; offset: number; length: number }[] = [];
  chunkSize = 64 * 1024;
  /** When set, every read stream errors after emitting this many bytes. */
  failAfterBytes: number | undefined;
  /** When set, stat/list/read reject with this error (before any byte). */
  failWith: Error | undefined;
  /** When set, every read stream pauses after emitting this many bytes until release() (or fails there with failWith). */
  stallAfterBytes: number | undefined;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;

  put(path: string, data: Buffer, version = `v-${this.files.size}-${data.length}`): UfsEntry {
    this.files.set(path, { data, version, mtimeMs: 1_700_000_000_000 });
    return this.entry(path);
  }

  entry(path: string): UfsEntry {
    const f = this.files.get(path);
    if (!f) throw new Error(`test bug: no file ${path}`);
    return { path, name: path.slice(path.lastIndexOf('/') + 1), isDir: false, size: f.data.length, mtimeMs: f.mtimeMs, version: f.version };
  }

  /** Holds every read until release() is called. */
  hold(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  resetCounts(): void {
    this.calls.stat = this.calls.list = this.calls.read = 0;
    this.reads.length = 0;
  }

  async stat(path: string): Promise<UfsEntry> {
    this.calls.stat++;
    await this.gate;
    if (this.failWith) throw this.failWith;
    if (this.files.has(path)) return this.entry(path);
    const prefix = path === '/' ? '/' : `${path}/`;
    for (const p of this.files.keys()) {
      if (p.startsWith(prefix)) return { path, name: path.slice(path.lastIndexOf('/') + 1), isDir: true, size: 0, mtimeMs: 0, version: '' };
    }
    throw new HoardError('NOT_FOUND', `${path} does not exist`);
  }

  async list(path: string): Promise<UfsEntry[]> {
    this.calls.list++;
    await this.gate;
    if (this.failWith) throw this.failWith;
    const prefix = path === '/' ? '/' : `${path}/`;
    const out: UfsEntry[] = [];
    for (const p of this.files.keys()) {
      if (p.startsWith(prefix) && !p.slice(prefix.length).includes('/')) out.push(this.entry(p));
    }
    if (out.length === 0) throw new HoardError('NOT_FOUND', `${path} does not exist`);
    return out;
  }

  async read(path: string, offset: number, length: number): Promise<Readable> {
    this.calls.read++;
    this.reads.push({ path, offset, length });
    await this.gate;
    if (this.failWith) throw this.failWith;
    const f = this.files.get(path);
    if (!f) throw new HoardError('NOT_FOUND', `${path} does not exist`);
    const bytes = f.data.subarray(offset, Math.min(f.data.length, offset + length));
    const chunkSize = this.chunkSize;
    const failAfter = this.failAfterBytes;
    const stallAfter = this.stallAfterBytes;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the generator reads the gate when it gets there
    const self = this;
    let stalled = false;
    return Readable.from(
      (async function* () {
        for (let at = 0; at < bytes.length; at += chunkSize) {
          if (stallAfter !== undefined && at >= stallAfter && !stalled) {
            stalled = true;
            self.hold();
            await self.gate;
            if (self.failWith) throw self.failWith;
          }
          if (failAfter !== undefined && at >= failAfter) throw new Error('connection reset by test');
          yield bytes.subarray(at, Math.min(bytes.length, at + chunkSize));
        }
      })(),
    );
  }

  async close(): Promise<void> {}
}

/** Deterministic pseudo-random bytes, so a wrong page shows up as a content mismatch. */
export function pattern(size: number, seed = 1): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    buf[i] = x >>> 24;
  }
  return buf;
}
