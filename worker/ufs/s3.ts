import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client, type ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { HoardError } from '../../lib/errors.js';
import type { MountSpec } from '../../lib/mounts.js';
import { MountOptions } from './options.js';
import { baseName, childPath, isServableName, normalizePath } from './path.js';
import { checkRange, emptyStream, parseContentRange, sliceStream, versionChanged } from './range.js';
import { credentialsFromDir } from './s3-credentials.js';
import { s3Error } from './s3-errors.js';
import { S3FastGet, type GetResponse } from './s3-fast-get.js';
import type { Ufs, UfsEntry } from './types.js';

export interface S3UfsOptions {
  bucket: string;
  /** Key prefix without leading slash; '' or ending in '/'. */
  prefix: string;
  mountName: string;
  endpoint?: string;
  region: string;
  pathStyle: boolean;
  credentials?: AwsCredentialIdentityProvider;
  /** ListObjectsV2 page size (S3 caps it at 1000). */
  maxKeys: number;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  maxAttempts: number;
}

/**
 * An S3 bucket (or a prefix of one) as under-storage. Directories are the usual '/'-delimited
 * key prefixes. Every request has connect/response/idle timeouts and at most `maxAttempts`
 * tries, so a dead endpoint surfaces as UNAVAILABLE in seconds rather than a hung read.
 */
export class S3Ufs implements Ufs {
  private readonly client: S3Client;
  private readonly fast: S3FastGet;

  static fromSpec(spec: MountSpec): S3Ufs {
    const url = new URL(spec.uri);
    const bucket = url.hostname;
    if (!bucket) throw new HoardError('INVALID_ARGUMENT', `mount "${spec.name}" uri: "${spec.uri}" has no bucket; use s3://bucket/prefix`);
    const rawPrefix = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
    const prefix = rawPrefix ? normalizePath('/' + rawPrefix).slice(1) + '/' : '';
    const o = new MountOptions(spec.name, spec.options);
    const endpoint = o.url('endpoint')?.toString().replace(/\/$/, '');
    return new S3Ufs({
      bucket,
      prefix,
      mountName: spec.name,
      endpoint,
      region: o.string('region') ?? process.env.AWS_REGION ?? 'us-east-1',
      pathStyle: o.bool('pathStyle', endpoint !== undefined),
      credentials: spec.credentialsDir ? credentialsFromDir(spec.credentialsDir, spec.name) : undefined,
      maxKeys: o.int('maxKeys', 1000, 1, 1000),
      connectTimeoutMs: o.int('connectTimeoutMs', 3000),
      requestTimeoutMs: o.int('requestTimeoutMs', 10_000),
      idleTimeoutMs: o.int('idleTimeoutMs', 30_000),
      maxAttempts: o.int('maxAttempts', 2, 1, 10),
    });
  }

  constructor(private readonly opts: S3UfsOptions) {
    // The SDK prints a multi-line plain-text notice about Node 20 support on first use; it would
    // break the JSON-only stderr of workers, and the supported Node range is package.json's call.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const agentOpts = { keepAlive: true, maxSockets: 64 };
    const httpAgent = new HttpAgent(agentOpts);
    const httpsAgent = new HttpsAgent(agentOpts);
    this.client = new S3Client({
      region: opts.region,
      endpoint: opts.endpoint,
      forcePathStyle: opts.pathStyle,
      // Without credentialsDir the SDK's default chain applies (env, ~/.aws, IRSA, IMDS).
      credentials: opts.credentials,
      maxAttempts: opts.maxAttempts,
      followRegionRedirects: opts.endpoint === undefined,
      // S3-compatible stores (MinIO, Ceph, s3rver) often reject the SDK's newer default checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: new NodeHttpHandler({
        connectionTimeout: opts.connectTimeoutMs,
        requestTimeout: opts.requestTimeoutMs,
        throwOnRequestTimeout: true,
        socketTimeout: opts.idleTimeoutMs,
        httpAgent,
        httpsAgent,
      }),
    });
    this.fast = new S3FastGet({
      bucket: opts.bucket,
      endpoint: opts.endpoint,
      region: opts.region,
      pathStyle: opts.pathStyle,
      // The SDK's resolved provider: the same chain (env, ~/.aws, IRSA, IMDS) and caching.
      credentials: this.client.config.credentials,
      httpAgent,
      httpsAgent,
      requestTimeoutMs: opts.requestTimeoutMs,
      idleTimeoutMs: opts.idleTimeoutMs,
    });
  }

  async stat(path: string): Promise<UfsEntry> {
    const norm = normalizePath(path);
    if (norm === '/') {
      // Touch the bucket so a wrong bucket, endpoint or key shows up here, not on first read.
      await this.listPage(this.opts.prefix, undefined, 1, norm);
      return dirEntry(norm);
    }
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.opts.bucket, Key: this.key(norm) }));
      return fileEntry(norm, head.ContentLength ?? 0, head.LastModified, head.ETag);
    } catch (e) {
      const err = s3Error(e, this.where(norm));
      if (err.code !== 'NOT_FOUND') throw err;
    }
    const page = await this.listPage(this.dirPrefix(norm), undefined, 1, norm);
    if ((page.KeyCount ?? 0) > 0 || (page.Contents?.length ?? 0) > 0 || (page.CommonPrefixes?.length ?? 0) > 0) {
      return dirEntry(norm);
    }
    throw new HoardError('NOT_FOUND', `${norm}: no such file or directory in ${this.where(norm)}`);
  }

  async list(path: string): Promise<UfsEntry[]> {
    const norm = normalizePath(path);
    const prefix = this.dirPrefix(norm);
    const files = new Map<string, UfsEntry>();
    const dirs = new Map<string, UfsEntry>();
    let sawAnything = false;
    let token: string | undefined;
    do {
      const page = await this.listPage(prefix, token, this.opts.maxKeys, norm);
      for (const o of page.Contents ?? []) {
        sawAnything = true;
        const name = (o.Key ?? '').slice(prefix.length);
        // '' is the directory marker object "dir/" itself; odd keys ("a//b", "./x") cannot be paths.
        if (!isServableName(name)) continue;
        const p = childPath(norm, name);
        files.set(name, fileEntry(p, o.Size ?? 0, o.LastModified, o.ETag));
      }
      for (const cp of page.CommonPrefixes ?? []) {
        sawAnything = true;
        const name = (cp.Prefix ?? '').slice(prefix.length, -1);
        if (isServableName(name)) dirs.set(name, dirEntry(childPath(norm, name)));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    if (!sawAnything && norm !== '/') {
      // An empty answer is either a file (list of a file) or nothing at all.
      const entry = await this.stat(norm);
      if (!entry.isDir) throw new HoardError('NOT_DIRECTORY', `${norm}: not a directory`);
    }
    // A key "a" and a prefix "a/" may both exist; stat() answers with the object, so list does too.
    for (const [name, d] of dirs) if (!files.has(name)) files.set(name, d);
    return [...files.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async read(path: string, offset: number, length: number, signal?: AbortSignal, version?: string): Promise<Readable> {
    checkRange(offset, length);
    const norm = normalizePath(path);
    if (norm === '/') throw new HoardError('IS_DIRECTORY', '/: is a directory');
    if (length === 0) return emptyStream();
    const out = await this.getRange(norm, offset, offset + length - 1, signal);
    if (!out) return emptyStream(); // offset at/after EOF
    const body = out.body;
    // Objects always carry an ETag on S3 and its look-alikes; without one there is nothing to compare.
    const etag = out.etag?.replace(/"/g, '');
    if (version !== undefined && etag && etag !== version) {
      body?.destroy();
      throw versionChanged(norm, version, etag);
    }
    if (!body) return emptyStream();
    const range = parseContentRange(out.contentRange);
    // A store that ignores Range answers 200 with the whole object: cut out our window ourselves.
    const start = range?.start ?? (out.status === 206 ? offset : 0);
    const total = range?.total ?? (out.status === 200 ? out.contentLength : undefined);
    if (start > offset) {
      body.destroy();
      throw new HoardError('UNAVAILABLE', `${this.where(norm)}: server returned bytes from ${start}, asked for ${offset}`);
    }
    // Trust the object size over the body length: some stores answer "bytes 0-0/0" plus a phantom byte.
    const take = total === undefined ? length : Math.min(length, total - offset);
    return sliceStream(body, offset - start, take, (e) => s3Error(e, this.where(norm)));
  }

  /**
   * A ranged GET: the lean signed request first (s3-fast-get.ts), the SDK when that one got
   * anything but a plain answer, so errors are always decoded by the SDK. undefined = 416.
   */
  private async getRange(norm: string, offset: number, end: number, signal?: AbortSignal): Promise<RangeAnswer | undefined> {
    const key = this.key(norm);
    const fast = await this.fast.get(key, offset, end, this.where(norm), signal).catch((e: unknown) => {
      if (signal?.aborted) throw signal.reason;
      // A credentials-chain failure arrives as the SDK's own error: map it as the SDK path would.
      throw s3Error(e, this.where(norm));
    });
    if (fast) {
      if (fast.status !== 416) return fast;
      fast.body.resume();
      return undefined;
    }
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: key, Range: `bytes=${offset}-${end}` }), { abortSignal: signal });
      return { status: out.$metadata.httpStatusCode ?? 0, etag: out.ETag, contentRange: out.ContentRange, contentLength: out.ContentLength, body: out.Body as Readable | undefined };
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 416 || (e as Error).name === 'InvalidRange') return undefined;
      throw s3Error(e, this.where(norm));
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private async listPage(prefix: string, token: string | undefined, maxKeys: number, norm: string): Promise<ListObjectsV2CommandOutput> {
    try {
      return await this.client.send(
        new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: prefix, Delimiter: '/', MaxKeys: maxKeys, ContinuationToken: token }),
      );
    } catch (e) {
      throw s3Error(e, this.where(norm));
    }
  }

  private key(norm: string): string {
    return this.opts.prefix + norm.slice(1);
  }

  private dirPrefix(norm: string): string {
    return norm === '/' ? this.opts.prefix : `${this.opts.prefix}${norm.slice(1)}/`;
  }

  private where(norm: string): string {
    return `s3://${this.opts.bucket}/${this.key(norm)}`;
  }
}

/** A GET's answer from either path; the SDK's may come without a body. */
type RangeAnswer = Omit<GetResponse, 'body'> & { body?: Readable };

function dirEntry(path: string): UfsEntry {
  return { path, name: baseName(path), isDir: true, size: 0, mtimeMs: 0, version: '' };
}

function fileEntry(path: string, size: number, modified: Date | undefined, etag: string | undefined): UfsEntry {
  const mtimeMs = modified ? modified.getTime() : 0;
  return { path, name: baseName(path), isDir: false, size, mtimeMs, version: etag ? etag.replace(/"/g, '') : `${mtimeMs}-${size}` };
}
