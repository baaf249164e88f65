import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../lib/log.js';
import { packageRoot } from '../../lib/root.js';
import type { PageRead, PageVerdict } from './page-read.js';
import type { ReadDone, ReadJob } from './page-read-worker.js';

/**
 * One thread that reads short-circuit page files into SharedArrayBuffer-backed buffers (the
 * read-ahead's pieces), so a warm sequential read spends the FUSE thread's time on FUSE requests
 * alone. Started on first use, never keeps the process alive, and if it dies every pending and
 * later read answers 'missing' (the caller then reads through the worker), so it can only ever
 * make reads faster.
 */
export class PageReadThread {
  private worker: Worker | undefined;
  private broken = false;
  private nextId = 1;
  private readonly pending = new Map<number, (v: ReadDone) => void>();

  constructor(private readonly logger?: Logger) {}

  /** True when `out` can be filled by the thread (it lives in shared memory) and the thread is usable. */
  canFill(out: Buffer): boolean {
    return !this.broken && out.buffer instanceof SharedArrayBuffer;
  }

  /** Reads `pages` into `out` (which starts at the read's offset); the first bad page's verdict and key. */
  read(out: Buffer, pages: PageRead[]): Promise<ReadDone> {
    const worker = this.start();
    if (worker === undefined) return Promise.resolve({ id: 0, verdict: 'missing' });
    const id = this.nextId++;
    const job: ReadJob = { id, buf: out.buffer as SharedArrayBuffer, outOffset: out.byteOffset, pages };
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      if (this.pending.size === 1) worker.ref();
      worker.postMessage(job);
    });
  }

  async close(): Promise<void> {
    this.broken = true;
    const w = this.worker;
    this.worker = undefined;
    this.failAll();
    await w?.terminate();
  }

  private start(): Worker | undefined {
    if (this.worker || this.broken) return this.worker;
    try {
      const w = new Worker(workerScript());
      w.unref();
      w.on('message', (done: ReadDone) => {
        const resolve = this.pending.get(done.id);
        this.pending.delete(done.id);
        if (this.pending.size === 0) w.unref();
        resolve?.(done);
      });
      const stop = (why: string) => {
        if (this.broken) return;
        this.broken = true;
        this.worker = undefined;
        this.logger?.warn({ why }, 'short-circuit read thread stopped; reading pieces on the main thread from now on');
        this.failAll();
      };
      w.on('error', (e) => stop(e.message));
      w.on('exit', (code) => stop(`exited with ${code}`));
      this.worker = w;
    } catch (e) {
      this.broken = true;
      this.logger?.warn({ err: (e as Error).message }, 'short-circuit read thread did not start');
    }
    return this.worker;
  }

  private failAll(): void {
    const verdict: PageVerdict = 'missing';
    for (const [id, resolve] of this.pending) resolve({ id, verdict });
    this.pending.clear();
  }
}

/** The thread's script: the compiled one beside this file, or in dist/ when this runs from source (vitest). */
function workerScript(): string {
  const beside = fileURLToPath(new URL('./page-read-worker.js', import.meta.url));
  return existsSync(beside) ? beside : join(packageRoot(), 'dist', 'worker', 'client', 'page-read-worker.js');
}
