import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { DataClient } from '../../worker/client/types.js';
import type { VolumeConfig } from '../server/validation.js';

const run = promisify(execFile);

export interface Usage {
  unit: 'BYTES' | 'INODES';
  total: number;
  used: number;
  available: number;
}

/**
 * Cache usage of a volume's dataset, asked from its workers through the data client (one client
 * per volume, reused); undefined when no worker answers in time.
 */
export class CacheUsage {
  private readonly clients = new Map<string, Promise<DataClient>>();

  private client(volumeId: string, config: VolumeConfig): Promise<DataClient> {
    let c = this.clients.get(volumeId);
    if (!c) {
      // Loaded on first use: the gRPC server must not fail to start over the data plane.
      c = import('../../worker/client/index.js').then(({ createClient }) =>
        createClient({
          workers: 'srv' in config.workers ? { srv: config.workers.srv } : config.workers.static,
          timeoutMs: 3000,
          readAheadBytes: 0,
        }),
      );
      this.clients.set(volumeId, c);
      c.catch(() => this.clients.delete(volumeId));
    }
    return c;
  }

  async get(volumeId: string, config: VolumeConfig, timeoutMs = 4000): Promise<Usage[] | undefined> {
    try {
      const client = await this.client(volumeId, config);
      let timer: NodeJS.Timeout | undefined;
      const stats = await Promise.race([
        client.stats(),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), timeoutMs))),
      ]).finally(() => clearTimeout(timer));
      if (stats.length === 0) return undefined;
      const capacity = stats.reduce((s, w) => s + w.capacityBytes, 0);
      const used = stats.reduce((s, w) => s + w.usedBytes, 0);
      const files = stats.reduce((s, w) => s + w.filesCached, 0);
      return [
        { unit: 'BYTES', total: capacity, used, available: Math.max(0, capacity - used) },
        { unit: 'INODES', total: files, used: files, available: 0 },
      ];
    } catch {
      return undefined;
    }
  }

  async forget(volumeId: string): Promise<void> {
    const c = this.clients.get(volumeId);
    this.clients.delete(volumeId);
    if (c) await (await c.catch(() => undefined))?.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    for (const id of [...this.clients.keys()]) await this.forget(id);
  }
}

/** statfs of a mounted path, read by a `stat -f` child so a hung mount cannot block the plugin. */
export async function statfsUsage(path: string): Promise<Usage[] | undefined> {
  try {
    const { stdout } = await run('stat', ['-f', '-c', '%S %b %f %a %c %d', path], { timeout: 3000, killSignal: 'SIGKILL' });
    const [bsize, blocks, , avail, files, ffree] = stdout.trim().split(' ').map(Number);
    if (![bsize, blocks, avail, files, ffree].every((n) => Number.isFinite(n))) return undefined;
    const out: Usage[] = [];
    if (blocks! > 0) out.push({ unit: 'BYTES', total: blocks! * bsize!, available: avail! * bsize!, used: (blocks! - avail!) * bsize! });
    if (files! > 0) out.push({ unit: 'INODES', total: files!, available: ffree!, used: Math.max(0, files! - ffree!) });
    return out.length ? out : undefined;
  } catch {
    return undefined;
  }
}
