/**
 * Sequential read-ahead for one client. FUSE hands us 128 KiB reads; asking a worker for each
 * one costs a round trip, so once a file is being read sequentially the next window is fetched
 * in the background and the small reads are served from memory.
 *
 * Correctness over speed: windows belong to one (path, version); a new version drops them, and a
 * window that failed is never served (the read goes to the normal path, which reports the error).
 */
export type RangeFetcher = (path: string, version: string, offset: number, length: number) => Promise<Buffer>;

interface Window {
  start: number;
  end: number;
  data?: Buffer;
  failed?: boolean;
  promise: Promise<void>;
}

interface Stream {
  version: string;
  lastEnd: number;
  sequential: number;
  frontier: number;
  windows: Window[];
}

/** Reads that land this close to where the previous one ended still count as sequential
 *  (the kernel issues a file's reads concurrently and slightly out of order). */
const SEQ_SLACK = 256 * 1024;
const MAX_STREAMS = 256;

export class ReadAhead {
  private readonly streams = new Map<string, Stream>();
  private buffered = 0;

  constructor(
    private readonly fetch: RangeFetcher,
    private readonly windowBytes: number,
    private readonly maxBufferedBytes: number,
  ) {}

  /** Bytes currently held or in flight (for tests and metrics). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  async read(path: string, version: string, size: number, offset: number, length: number): Promise<Buffer> {
    if (this.windowBytes <= 0 || length <= 0) return this.fetch(path, version, offset, length);
    const s = this.stream(path, version);
    const end = offset + length;
    const sequential = offset >= s.lastEnd - SEQ_SLACK && offset <= s.lastEnd + SEQ_SLACK;
    s.sequential = sequential ? s.sequential + 1 : 0;
    s.lastEnd = end;
    this.dropWindows(s, (w) => (sequential ? w.end <= offset - SEQ_SLACK : w.end <= offset || w.start >= end + this.windowBytes));
    if (s.sequential >= 1) this.prefetch(path, s, size, end);
    const served = await this.serve(s, offset, end);
    return served ?? this.fetch(path, version, offset, length);
  }

  /** Forget a path (e.g. the file changed). */
  invalidate(path: string): void {
    const s = this.streams.get(path);
    if (s) this.dropStream(path, s);
  }

  clear(): void {
    for (const [p, s] of this.streams) this.dropStream(p, s);
  }

  private stream(path: string, version: string): Stream {
    let s = this.streams.get(path);
    if (s && s.version !== version) {
      this.dropStream(path, s);
      s = undefined;
    }
    if (s) {
      // Map order is our LRU order.
      this.streams.delete(path);
      this.streams.set(path, s);
      return s;
    }
    s = { version, lastEnd: -1 - SEQ_SLACK, sequential: 0, frontier: 0, windows: [] };
    this.streams.set(path, s);
    while (this.streams.size > MAX_STREAMS) {
      const [oldPath, old] = this.streams.entries().next().value as [string, Stream];
      this.dropStream(oldPath, old);
    }
    return s;
  }

  private prefetch(path: string, s: Stream, size: number, end: number): void {
    const half = Math.max(1, Math.floor(this.windowBytes / 2));
    if (s.frontier < end) s.frontier = end;
    const target = Math.min(size, end + this.windowBytes);
    while (s.frontier < target) {
      const start = s.frontier;
      const wEnd = Math.min(size, start + half);
      if (!this.reserve(wEnd - start, path)) return;
      const w: Window = { start, end: wEnd, promise: Promise.resolve() };
      w.promise = this.fetch(path, s.version, start, wEnd - start).then(
        (data) => {
          if (data.length === wEnd - start) w.data = data;
          else w.failed = true;
        },
        () => {
          w.failed = true;
        },
      );
      s.windows.push(w);
      s.frontier = wEnd;
    }
  }

  /** The bytes [offset, end) if prefetched windows cover them contiguously and arrived intact. */
  private async serve(s: Stream, offset: number, end: number): Promise<Buffer | undefined> {
    const parts: Window[] = [];
    let at = offset;
    for (const w of s.windows) {
      if (w.end <= at || w.start > at) continue;
      parts.push(w);
      at = w.end;
      if (at >= end) break;
    }
    if (at < end || parts.length === 0) return undefined;
    await Promise.all(parts.map((w) => w.promise));
    if (parts.some((w) => w.failed || !w.data)) {
      // Do not keep serving from a stream that went wrong; the next reads start over.
      this.dropWindows(s, () => true);
      s.sequential = 0;
      return undefined;
    }
    if (parts.length === 1) {
      const w = parts[0]!;
      return Buffer.from(w.data!.subarray(offset - w.start, end - w.start));
    }
    const out = Buffer.allocUnsafe(end - offset);
    for (const w of parts) {
      const from = Math.max(offset, w.start);
      const to = Math.min(end, w.end);
      w.data!.copy(out, from - offset, from - w.start, to - w.start);
    }
    return out;
  }

  /** Makes room for `bytes`, taking it from the least recently used other streams if needed. */
  private reserve(bytes: number, path: string): boolean {
    if (bytes > this.maxBufferedBytes) return false;
    for (const [p, s] of this.streams) {
      if (this.buffered + bytes <= this.maxBufferedBytes) break;
      if (p !== path) this.dropWindows(s, () => true);
    }
    if (this.buffered + bytes > this.maxBufferedBytes) return false;
    this.buffered += bytes;
    return true;
  }

  private dropWindows(s: Stream, drop: (w: Window) => boolean): void {
    const keep: Window[] = [];
    for (const w of s.windows) {
      if (drop(w)) this.buffered -= w.end - w.start;
      else keep.push(w);
    }
    if (keep.length !== s.windows.length) {
      s.windows = keep;
      // Windows ahead of the reader may have gone: let prefetch refill from the last one kept.
      s.frontier = keep.length ? keep[keep.length - 1]!.end : 0;
    }
  }

  private dropStream(path: string, s: Stream): void {
    this.dropWindows(s, () => true);
    this.streams.delete(path);
  }
}
