/**
 * Sequential read-ahead for one client. FUSE hands us 128 KiB reads; asking a worker for each
 * one costs a round trip, so once a file is being read sequentially the next pieces are fetched
 * in the background (several at once, so a cold read keeps the under-storage busy) and the small
 * reads are copied out of memory.
 *
 * Correctness over speed: pieces belong to one (path, version); a new version drops them, and a
 * piece that failed is never served (the read goes to the normal path, which reports the error).
 * Piece buffers are recycled, so bytes only ever leave this class as copies (readInto).
 */
/** The file a read is for: one path at one version, whose size is known. */
export interface FileRef {
  path: string;
  version: string;
  size: number;
}

export type RangeFetcher = (file: FileRef, offset: number, length: number, into?: Buffer) => Promise<Buffer>;
/** The same range when it can be had without waiting (bytes on this host's RAM disk), else undefined. */
export type RangeFetcherNow = (file: FileRef, offset: number, length: number, into?: Buffer) => Buffer | undefined;

interface Piece {
  start: number;
  end: number;
  buf: Buffer;
  ok: boolean;
  failed: boolean;
  /** Reads copying out of this piece right now: its buffer may not be recycled until they finish. */
  readers: number;
  dropped: boolean;
  recycled: boolean;
  promise: Promise<void>;
}

interface Stream {
  file: FileRef;
  lastEnd: number;
  sequential: number;
  frontier: number;
  /** How far ahead of the reader this stream prefetches; grows while reads stay sequential. */
  ahead: number;
  pieces: Piece[];
}

/** Reads that land this close to the furthest end read so far still count as sequential: the
 *  kernel's read-ahead keeps several 128 KiB reads of a file in flight (read_ahead_kb), and they
 *  reach us in any order. */
const SEQ_SLACK = 4 * 1024 * 1024;
const MAX_STREAMS = 256;
const MAX_PIECE = 4 * 1024 * 1024;
const MIN_PIECE = 128 * 1024;
/** Spare piece buffers kept for reuse: large Buffers are costly to allocate and collect. */
export const POOL_LIMIT = 16;
/** The largest read-ahead piece: the spare pool holds at most POOL_LIMIT of them. */
export const MAX_PIECE_BYTES = MAX_PIECE;

export class ReadAhead {
  private readonly streams = new Map<string, Stream>();
  private readonly pool: Buffer[] = [];
  private readonly pieceBytes: number;
  private buffered = 0;

  constructor(
    private readonly fetch: RangeFetcher,
    private readonly windowBytes: number,
    private readonly maxBufferedBytes: number,
    private readonly fetchNow?: RangeFetcherNow,
  ) {
    this.pieceBytes = Math.min(MAX_PIECE, Math.max(MIN_PIECE, Math.floor(windowBytes / 4)));
  }

  /** Bytes currently held or in flight (for tests and metrics). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Bytes of spare piece buffers kept for reuse (at most POOL_LIMIT pieces). */
  get spareBytes(): number {
    return this.pool.length * this.pieceBytes;
  }

  /** The bytes [offset, offset+length) as a new Buffer. */
  async read(file: FileRef, offset: number, length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length);
    const n = await this.readInto(file, offset, length, out);
    return n === length ? out : out.subarray(0, n);
  }

  /**
   * Copies [offset, offset+length) into dest. The byte count comes back as a plain number when
   * the bytes were at hand (a piece that already arrived, or fetchNow): most FUSE reads of a
   * warm file, which then cost no promise and no event-loop turn. Otherwise a promise.
   */
  readInto(file: FileRef, offset: number, length: number, dest: Buffer): number | Promise<number> {
    if (this.windowBytes <= 0 || length <= 0) return this.direct(file, offset, length, dest);
    const s = this.stream(file);
    const end = offset + length;
    const sequential = offset >= s.lastEnd - SEQ_SLACK && offset <= s.lastEnd + SEQ_SLACK;
    if (sequential) {
      s.sequential++;
      s.ahead = Math.min(this.windowBytes, s.ahead * 2);
    } else {
      s.sequential = 0;
      s.ahead = Math.min(this.windowBytes, 2 * this.pieceBytes);
    }
    // The furthest end, not the latest: an earlier read arriving late must not pull it back.
    s.lastEnd = sequential ? Math.max(s.lastEnd, end) : end;
    this.dropPieces(s, (p) => (sequential ? p.end <= offset - SEQ_SLACK : p.end <= offset || p.start >= end + this.windowBytes));
    if (s.sequential >= 1) this.prefetch(s, end);
    const parts = this.covering(s, offset, end);
    if (parts === undefined) return this.direct(file, offset, length, dest);
    if (parts.every((p) => p.ok)) return this.copyOut(parts, offset, end, dest);
    if (parts.some((p) => p.failed)) {
      this.abandon(s);
      return this.direct(file, offset, length, dest);
    }
    return this.serveLater(s, parts, offset, end, dest).then((served) => served ?? this.direct(file, offset, length, dest));
  }

  /** Forget a path (e.g. the file changed). */
  invalidate(path: string): void {
    const s = this.streams.get(path);
    if (s) this.dropStream(path, s);
  }

  clear(): void {
    for (const [p, s] of this.streams) this.dropStream(p, s);
    this.pool.length = 0;
  }

  private direct(file: FileRef, offset: number, length: number, dest: Buffer): number | Promise<number> {
    const into = dest.length >= length ? dest.subarray(0, length) : undefined;
    const now = this.fetchNow?.(file, offset, length, into);
    if (now !== undefined) return land(now, dest, length);
    return this.fetch(file, offset, length, into).then((data) => land(data, dest, length));
  }

  private stream(file: FileRef): Stream {
    const path = file.path;
    let s = this.streams.get(path);
    if (s && (s.file.version !== file.version || s.file.size !== file.size)) {
      this.dropStream(path, s);
      s = undefined;
    }
    if (s) {
      // Map order is our LRU order.
      this.streams.delete(path);
      this.streams.set(path, s);
      return s;
    }
    s = { file: { path, version: file.version, size: file.size }, lastEnd: -1 - SEQ_SLACK, sequential: 0, frontier: 0, ahead: 2 * this.pieceBytes, pieces: [] };
    this.streams.set(path, s);
    while (this.streams.size > MAX_STREAMS) {
      const [oldPath, old] = this.streams.entries().next().value as [string, Stream];
      this.dropStream(oldPath, old);
    }
    return s;
  }

  private prefetch(s: Stream, end: number): void {
    const { path, size } = s.file;
    if (s.frontier < end) s.frontier = end;
    const target = Math.min(size, end + s.ahead);
    while (s.frontier < target) {
      const start = s.frontier;
      // Pieces sit on the piece grid so that every stream asks workers for aligned ranges.
      const pEnd = Math.min(size, (Math.floor(start / this.pieceBytes) + 1) * this.pieceBytes);
      if (!this.reserve(pEnd - start, path)) return;
      const buf = this.takeBuffer();
      const p: Piece = { start, end: pEnd, buf, ok: false, failed: false, readers: 0, dropped: false, recycled: false, promise: Promise.resolve() };
      p.promise = this.fetch(s.file, start, pEnd - start, buf.subarray(0, pEnd - start)).then(
        (data) => {
          if (data.length !== pEnd - start) p.failed = true;
          else {
            if (data.buffer !== buf.buffer || data.byteOffset !== buf.byteOffset) data.copy(buf);
            p.ok = true;
          }
        },
        () => {
          p.failed = true;
        },
      );
      s.pieces.push(p);
      s.frontier = pEnd;
    }
  }

  /** The prefetched pieces that cover [offset, end) contiguously, or undefined. */
  private covering(s: Stream, offset: number, end: number): Piece[] | undefined {
    const parts: Piece[] = [];
    let at = offset;
    for (const p of s.pieces) {
      if (p.end <= at || p.start > at) continue;
      parts.push(p);
      at = p.end;
      if (at >= end) break;
    }
    return at < end || parts.length === 0 ? undefined : parts;
  }

  private copyOut(parts: Piece[], offset: number, end: number, dest: Buffer): number {
    for (const p of parts) {
      const from = Math.max(offset, p.start);
      const to = Math.min(end, p.end);
      p.buf.copy(dest, from - offset, from - p.start, to - p.start);
    }
    return end - offset;
  }

  /** Do not keep serving from a stream that went wrong; the next reads start over. */
  private abandon(s: Stream): void {
    this.dropPieces(s, () => true);
    s.sequential = 0;
  }

  /** Waits for pieces still in flight, then copies; undefined when one of them failed. */
  private async serveLater(s: Stream, parts: Piece[], offset: number, end: number, dest: Buffer): Promise<number | undefined> {
    for (const p of parts) p.readers++;
    try {
      await Promise.all(parts.map((p) => p.promise));
      if (parts.some((p) => !p.ok)) {
        this.abandon(s);
        return undefined;
      }
      return this.copyOut(parts, offset, end, dest);
    } finally {
      for (const p of parts) {
        p.readers--;
        if (p.dropped) this.recycle(p);
      }
    }
  }

  /** Makes room for `bytes`, taking it from the least recently used other streams if needed. */
  private reserve(bytes: number, path: string): boolean {
    if (bytes > this.maxBufferedBytes) return false;
    for (const [p, s] of this.streams) {
      if (this.buffered + bytes <= this.maxBufferedBytes) break;
      if (p !== path) this.dropPieces(s, () => true);
    }
    if (this.buffered + bytes > this.maxBufferedBytes) return false;
    this.buffered += bytes;
    return true;
  }

  // Shared memory, so a short-circuit read can fill a piece from another thread (page-read-thread.ts).
  private takeBuffer(): Buffer {
    return this.pool.pop() ?? Buffer.from(new SharedArrayBuffer(this.pieceBytes));
  }

  /** A dropped piece's buffer goes back to the pool once its fetch settled and nobody copies from it. */
  private recycle(p: Piece): void {
    if (p.readers > 0) return;
    // The fetch may still be writing into the buffer: wait for it to settle first. A settled
    // fetch, failed or not, writes no more (the client waits for every part of a range), so
    // the buffer is reused rather than left to pile up for the collector.
    void p.promise.then(() => {
      if (p.recycled || p.readers > 0 || this.pool.length >= POOL_LIMIT) return;
      p.recycled = true;
      this.pool.push(p.buf);
    });
  }

  private dropPieces(s: Stream, drop: (p: Piece) => boolean): void {
    const keep: Piece[] = [];
    for (const p of s.pieces) {
      if (drop(p)) {
        this.buffered -= p.end - p.start;
        p.dropped = true;
        this.recycle(p);
      } else keep.push(p);
    }
    if (keep.length !== s.pieces.length) {
      s.pieces = keep;
      // Pieces ahead of the reader may have gone: let prefetch refill from the last one kept.
      s.frontier = keep.length ? keep[keep.length - 1]!.end : 0;
    }
  }

  private dropStream(path: string, s: Stream): void {
    this.dropPieces(s, () => true);
    this.streams.delete(path);
  }
}

/** Puts a fetcher's answer into dest (unless it was written there in place); the byte count. */
function land(data: Buffer, dest: Buffer, length: number): number {
  if (data.buffer !== dest.buffer || data.byteOffset !== dest.byteOffset) data.copy(dest, 0, 0, Math.min(length, data.length));
  return Math.min(length, data.length);
}
