import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { HoardError } from '../../lib/errors.js';
import type { MountSpec } from '../../lib/mounts.js';
import { HttpClient, redact } from './http-client.js';
import { FileTree, parsePathList } from './http-listing.js';
import { MountOptions } from './options.js';
import { baseName, normalizePath } from './path.js';
import { checkRange, emptyStream, parseContentRange, sliceStream, versionChanged } from './range.js';
import type { Ufs, UfsEntry } from './types.js';

const HEAD_CONCURRENCY = 16;
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

export interface HttpUfsOptions {
  mountName: string;
  /** Listing from the mount table (options.files). */
  files?: string[];
  /** Listing fetched from a URL (options.manifest), one relative path per line. */
  manifest?: URL;
  manifestTtlMs: number;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  idleTimeoutMs: number;
  maxAttempts: number;
}

/**
 * Files behind an HTTP(S) base URL. HTTP has no listing, so the tree comes from options.files or
 * a manifest; without either, files can still be opened by name but directories look empty.
 * Reads are ranged GETs; a server that ignores Range is handled by skipping to the offset, so
 * the bytes returned are right either way (only slower).
 */
export class HttpUfs implements Ufs {
  private readonly base: URL;
  private readonly client: HttpClient;
  private readonly staticTree?: FileTree;
  private manifestCache?: { tree: FileTree; at: number };
  private manifestLoading?: Promise<FileTree>;

  static fromSpec(spec: MountSpec): HttpUfs {
    const o = new MountOptions(spec.name, spec.options);
    const files = o.string('files');
    const manifest = o.string('manifest');
    let manifestUrl: URL | undefined;
    if (manifest) {
      try {
        manifestUrl = new URL(manifest, withSlash(new URL(spec.uri)));
      } catch {
        throw new HoardError('INVALID_ARGUMENT', `mount "${spec.name}" options.manifest: "${manifest}" is not a URL or a path relative to the uri`);
      }
    }
    return new HttpUfs(spec.uri, {
      mountName: spec.name,
      files: files !== undefined ? parsePathList(files.split(','), `mount "${spec.name}" options.files`) : undefined,
      manifest: manifestUrl,
      manifestTtlMs: o.int('manifestTtlMs', 60_000, 0),
      connectTimeoutMs: o.int('connectTimeoutMs', 3000),
      responseTimeoutMs: o.int('requestTimeoutMs', 10_000),
      idleTimeoutMs: o.int('idleTimeoutMs', 30_000),
      maxAttempts: o.int('maxAttempts', 2, 1, 10),
    });
  }

  constructor(
    uri: string,
    private readonly opts: HttpUfsOptions,
  ) {
    this.base = withSlash(new URL(uri));
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new HoardError('INVALID_ARGUMENT', `mount "${opts.mountName}" uri: "${uri}" must be http:// or https://`);
    }
    this.client = new HttpClient({
      connectTimeoutMs: opts.connectTimeoutMs,
      responseTimeoutMs: opts.responseTimeoutMs,
      idleTimeoutMs: opts.idleTimeoutMs,
      maxAttempts: opts.maxAttempts,
    });
    if (opts.files) this.staticTree = new FileTree(opts.files);
  }

  async stat(path: string): Promise<UfsEntry> {
    const norm = normalizePath(path);
    const tree = await this.tree();
    if (norm === '/' || tree?.isDir(norm)) return dirEntry(norm);
    if (tree && !tree.isFile(norm)) throw new HoardError('NOT_FOUND', `${norm}: not in the listing of ${redact(this.base)}`);
    return this.head(norm);
  }

  async list(path: string): Promise<UfsEntry[]> {
    const norm = normalizePath(path);
    const tree = await this.tree();
    if (!tree) {
      if (norm === '/') return [];
      await this.head(norm); // a file, or NOT_FOUND
      throw new HoardError('NOT_DIRECTORY', `${norm}: not a directory`);
    }
    if (!tree.isDir(norm)) {
      if (tree.isFile(norm)) throw new HoardError('NOT_DIRECTORY', `${norm}: not a directory`);
      throw new HoardError('NOT_FOUND', `${norm}: not in the listing of ${redact(this.base)}`);
    }
    const kids = tree.children(norm);
    const out: (UfsEntry | undefined)[] = new Array(kids.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < kids.length) {
        const i = next++;
        const k = kids[i];
        if (k.isDir) {
          out[i] = dirEntry(k.path);
          continue;
        }
        try {
          out[i] = await this.head(k.path);
        } catch (e) {
          // A listed file that the server no longer has is left out rather than failing the directory.
          if (!(e instanceof HoardError && e.code === 'NOT_FOUND')) throw e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(HEAD_CONCURRENCY, kids.length) }, worker));
    return out.filter((e): e is UfsEntry => e !== undefined);
  }

  async read(path: string, offset: number, length: number, signal?: AbortSignal, version?: string): Promise<Readable> {
    checkRange(offset, length);
    const norm = normalizePath(path);
    const tree = await this.tree();
    if (norm === '/' || tree?.isDir(norm)) throw new HoardError('IS_DIRECTORY', `${norm}: is a directory`);
    if (tree && !tree.isFile(norm)) throw new HoardError('NOT_FOUND', `${norm}: not in the listing of ${redact(this.base)}`);
    if (length === 0) return emptyStream();
    const url = this.urlOf(norm);
    const res = await this.client.send('GET', url, { range: `bytes=${offset}-${offset + length - 1}` }, signal);
    const status = res.statusCode ?? 0;
    if (status === 416) {
      res.destroy();
      return emptyStream(); // offset at or after EOF
    }
    if (status !== 200 && status !== 206) throw statusError(res, url, norm);
    const encoding = res.headers['content-encoding'];
    if (encoding && encoding !== 'identity') {
      res.destroy();
      throw new HoardError('UNAVAILABLE', `${redact(url)}: server sent ${encoding}-encoded bytes despite Accept-Encoding: identity; byte ranges would be wrong`);
    }
    // 200 = Range ignored: the body is the whole file from byte 0. 206 must say where it starts.
    const range = parseContentRange(res.headers['content-range']);
    const start = status === 200 ? 0 : range?.start;
    if (start === undefined || start > offset) {
      res.destroy();
      throw new HoardError('UNAVAILABLE', `${redact(url)}: server answered a range we did not ask for (${res.headers['content-range'] ?? 'no Content-Range'})`);
    }
    const contentLength = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : undefined;
    const total = status === 200 ? contentLength : range?.total;
    if (version !== undefined && total !== undefined && Number.isSafeInteger(total)) {
      const now = fileEntry(norm, total, res).version;
      if (now !== version) {
        res.destroy();
        throw versionChanged(norm, version, now);
      }
    }
    const take = total === undefined || !Number.isFinite(total) ? length : Math.min(length, total - offset);
    return sliceStream(res, offset - start, take, (e) =>
      e instanceof HoardError ? e : new HoardError('UNAVAILABLE', `${redact(url)}: transfer failed: ${(e as Error)?.message ?? e}`, { cause: e }),
    );
  }

  async close(): Promise<void> {
    this.client.close();
  }

  private async head(norm: string): Promise<UfsEntry> {
    const url = this.urlOf(norm);
    const res = await this.client.send('HEAD', url, {});
    res.resume();
    const status = res.statusCode ?? 0;
    const length = res.headers['content-length'];
    if (status === 200 && length !== undefined) return fileEntry(norm, Number(length), res);
    if (status !== 200 && status !== 405 && status !== 501) throw statusError(res, url, norm);
    return this.probeSize(norm, url);
  }

  /** For servers without HEAD or without Content-Length on HEAD: a one-byte ranged GET. */
  private async probeSize(norm: string, url: URL): Promise<UfsEntry> {
    const res = await this.client.send('GET', url, { range: 'bytes=0-0' });
    res.destroy();
    const status = res.statusCode ?? 0;
    if (status === 206) {
      const total = /\/(\d+)\s*$/.exec(String(res.headers['content-range'] ?? ''));
      if (total) return fileEntry(norm, Number(total[1]), res);
    } else if (status === 200 && res.headers['content-length'] !== undefined) {
      return fileEntry(norm, Number(res.headers['content-length']), res);
    } else if (status === 416) {
      return fileEntry(norm, 0, res);
    } else {
      throw statusError(res, url, norm);
    }
    throw new HoardError('UNAVAILABLE', `${redact(url)}: server does not tell the file size (no Content-Length or Content-Range)`);
  }

  private async tree(): Promise<FileTree | undefined> {
    if (this.staticTree) return this.staticTree;
    if (!this.opts.manifest) return undefined;
    const cached = this.manifestCache;
    if (cached && Date.now() - cached.at < this.opts.manifestTtlMs) return cached.tree;
    this.manifestLoading ??= this.loadManifest().finally(() => (this.manifestLoading = undefined));
    try {
      return await this.manifestLoading;
    } catch (e) {
      // A stale listing beats none while the manifest server hiccups.
      if (cached) return cached.tree;
      throw e;
    }
  }

  private async loadManifest(): Promise<FileTree> {
    const url = this.opts.manifest!;
    const res = await this.client.send('GET', url, {});
    if (res.statusCode !== 200) throw statusError(res, url, `manifest of mount "${this.opts.mountName}"`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_MANIFEST_BYTES) {
        res.destroy();
        throw new HoardError('INVALID_ARGUMENT', `${redact(url)}: manifest larger than ${MAX_MANIFEST_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    const lines = Buffer.concat(chunks).toString('utf8').split(/\r?\n/);
    const tree = new FileTree(parsePathList(lines, `manifest ${redact(url)}`));
    this.manifestCache = { tree, at: Date.now() };
    return tree;
  }

  private urlOf(norm: string): URL {
    const url = new URL(norm.slice(1).split('/').map(encodeURIComponent).join('/'), this.base);
    url.search = this.base.search; // keep a signed/query-string base (tokens) on every file URL
    return url;
  }
}

function withSlash(u: URL): URL {
  const copy = new URL(u.toString());
  if (!copy.pathname.endsWith('/')) copy.pathname += '/';
  return copy;
}

function dirEntry(path: string): UfsEntry {
  return { path, name: baseName(path), isDir: true, size: 0, mtimeMs: 0, version: '' };
}

function fileEntry(path: string, size: number, res: IncomingMessage): UfsEntry {
  if (!Number.isSafeInteger(size) || size < 0) throw new HoardError('UNAVAILABLE', `${path}: server sent an invalid size`);
  const lm = res.headers['last-modified'];
  const parsed = lm ? Date.parse(lm) : NaN;
  const mtimeMs = Number.isFinite(parsed) ? parsed : 0;
  const etag = res.headers.etag;
  return { path, name: baseName(path), isDir: false, size, mtimeMs, version: etag ? etag.replace(/"/g, '') : `${mtimeMs}-${size}` };
}

function statusError(res: IncomingMessage, url: URL, what: string): HoardError {
  res.destroy();
  const status = res.statusCode ?? 0;
  const where = `${what} (${redact(url)})`;
  if (status === 404 || status === 410) return new HoardError('NOT_FOUND', `${where}: HTTP ${status}`);
  if (status === 401 || status === 403) return new HoardError('PERMISSION_DENIED', `${where}: HTTP ${status}`);
  return new HoardError('UNAVAILABLE', `${where}: HTTP ${status}`);
}
