/**
 * Bandwidth limiter. Takers may overdraw (a page is not divisible), and the overdraft is paid
 * back by sleeping, so over any long window the rate holds even with many concurrent takers.
 */
export class TokenBucket {
  private tokens = 0;
  private last = Date.now();

  constructor(
    private readonly bytesPerSec: number,
    /** Unused allowance kept at most this long, so an idle period cannot become a burst. */
    private readonly burstSeconds = 0.2,
  ) {}

  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = Date.now();
    this.tokens = Math.min(this.bytesPerSec * this.burstSeconds, this.tokens + ((now - this.last) / 1000) * this.bytesPerSec);
    this.last = now;
    this.tokens -= bytes;
    if (this.tokens < 0) await sleep((-this.tokens / this.bytesPerSec) * 1000, signal);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
