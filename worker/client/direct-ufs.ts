import type { Readable } from 'node:stream';
import { HoardError } from '../../lib/errors.js';
import type { MountTable } from '../../lib/mounts.js';
import { createNamespace } from '../ufs/namespace.js';
import type { Ufs, UfsEntry } from '../ufs/types.js';
import { TtlCache } from './ttl-cache.js';
import type { FileInfo } from './types.js';

async function collect(stream: Readable, expected: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    parts.push(b);
    n += b.length;
    if (n > expected) break;
  }
  return Buffer.concat(parts, Math.min(n, expected));
}

/**
 * The last resort when no worker answers: the client talks to the under-storage itself, with
 * the same mount table as the workers. Built on first use, so a client whose workers are
 * healthy never opens S3 connections of its own.
 */
export class DirectUfs {
  private ns: Ufs | undefined;
  private readonly statCache: TtlCache<UfsEntry>;

  constructor(
    private readonly mounts: MountTable,
    metaTtlMs: number,
  ) {
    this.statCache = new TtlCache<UfsEntry>(metaTtlMs);
  }

  private ufs(): Ufs {
    this.ns ??= createNamespace(this.mounts);
    return this.ns;
  }

  stat(path: string): Promise<FileInfo> {
    return this.ufs().stat(path);
  }

  list(path: string): Promise<FileInfo[]> {
    return this.ufs().list(path);
  }

  /** Reads a range, refusing if the file is no longer the version the caller saw. */
  async read(path: string, version: string, offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    if (version) {
      const now = await this.statCache.get(path, () => this.ufs().stat(path));
      if (now.version !== version) {
        this.statCache.delete(path);
        throw new HoardError('FAILED_PRECONDITION', `${path} changed while being read (version ${version} is now ${now.version}); reopen the file`);
      }
    }
    const stream = await this.ufs().read(path, offset, length, signal);
    return collect(stream, length);
  }

  async close(): Promise<void> {
    await this.ns?.close();
    this.ns = undefined;
  }
}
