import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider, Checksum, SourceData } from '@smithy/types';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { isIP } from 'node:net';
import { request as httpRequest, type Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import { HoardError } from '../../lib/errors.js';

/** What the ranged-GET path needs to know about a bucket; the same settings the S3Client gets. */
export interface FastGetOptions {
  bucket: string;
  endpoint?: string;
  region: string;
  pathStyle: boolean;
  credentials: AwsCredentialIdentityProvider;
  httpAgent: HttpAgent;
  httpsAgent: HttpsAgent;
  /** Until the response headers arrive (connecting included). */
  requestTimeoutMs: number;
  /** Longest silence on the socket once the body flows. */
  idleTimeoutMs: number;
}

/** The answer of a ranged GET, as S3Ufs.read needs it. */
export interface GetResponse {
  status: number;
  etag?: string;
  contentRange?: string;
  contentLength?: number;
  body: IncomingMessage;
}

/** SHA-256 and HMAC-SHA256 from node:crypto, in the shape the SigV4 signer asks for. */
class NodeSha256 implements Checksum {
  private hash: Hash | Hmac;

  constructor(private readonly secret?: SourceData) {
    this.hash = this.fresh();
  }

  update(data: Uint8Array): void {
    this.hash.update(data);
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }

  reset(): void {
    this.hash = this.fresh();
  }

  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(this.secret));
  }
}

function toBytes(d: SourceData): Buffer {
  if (typeof d === 'string') return Buffer.from(d, 'utf8');
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  return Buffer.from(d);
}

/** RFC 3986 escaping of each key segment, as SigV4 and S3 expect (encodeURIComponent leaves !'()*). */
function escapeKey(key: string): string {
  return key
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}

/**
 * Ranged GetObject without the SDK's middleware stack. The SDK spends ~4 ms of CPU per call on
 * this box (serde schemas, endpoint rules, retry and checksum middleware) against ~1 ms for the
 * same signed request made here, and a cold read of many small files is one GET per file. The
 * request is signed by the SDK's own SigV4 signer with credentials from the SDK's provider chain.
 *
 * Only the success path lives here: any answer other than 200/206/416 returns undefined so the
 * caller repeats the call through the SDK, which owns error decoding and region redirects.
 * Network failures and timeouts are final (UNAVAILABLE): repeating them would only double the
 * time a reader waits on a dead endpoint.
 */
export class S3FastGet {
  private readonly signer: SignatureV4;
  private readonly base: URL;
  private readonly keyPrefix: string;

  constructor(private readonly opts: FastGetOptions) {
    this.signer = new SignatureV4({
      service: 's3',
      region: opts.region,
      credentials: opts.credentials,
      sha256: NodeSha256,
      // S3 wants the path as sent, not escaped a second time.
      uriEscapePath: false,
      applyChecksum: false,
    });
    const endpoint = new URL(opts.endpoint ?? `https://s3.${opts.region}.amazonaws.com`);
    // As the SDK does: a bucket goes into the host name only when it is a DNS label and the
    // endpoint is a name (an IP address or "localhost" cannot take a bucket prefix).
    const host = endpoint.hostname.replace(/^\[|\]$/g, '');
    const virtualHost = !opts.pathStyle && /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(opts.bucket) && isIP(host) === 0 && host !== 'localhost';
    if (virtualHost) endpoint.hostname = `${opts.bucket}.${endpoint.hostname}`;
    this.base = endpoint;
    const basePath = endpoint.pathname.replace(/\/$/, '');
    this.keyPrefix = virtualHost ? `${basePath}/` : `${basePath}/${escapeKey(opts.bucket)}/`;
  }

  /** GET bytes [offset, end] of `key`; undefined when the SDK should take the call over. */
  async get(key: string, offset: number, end: number, where: string, signal?: AbortSignal): Promise<GetResponse | undefined> {
    const path = this.keyPrefix + escapeKey(key);
    const host = this.base.host;
    const signed = await this.signer.sign({
      method: 'GET',
      protocol: this.base.protocol,
      hostname: this.base.hostname,
      port: this.base.port ? Number(this.base.port) : undefined,
      path,
      query: {},
      headers: { host, range: `bytes=${offset}-${end}`, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    });
    const res = await this.send(path, signed.headers, where, signal);
    const status = res.statusCode ?? 0;
    if (status !== 200 && status !== 206 && status !== 416) {
      res.resume();
      return undefined;
    }
    const len = res.headers['content-length'];
    return {
      status,
      etag: res.headers.etag,
      contentRange: res.headers['content-range'],
      contentLength: len === undefined ? undefined : Number(len),
      body: res,
    };
  }

  private send(path: string, headers: Record<string, string>, where: string, signal?: AbortSignal): Promise<IncomingMessage> {
    const https = this.base.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)({
        protocol: this.base.protocol,
        hostname: this.base.hostname,
        port: this.base.port || undefined,
        path,
        method: 'GET',
        headers,
        agent: https ? this.opts.httpsAgent : this.opts.httpAgent,
        signal,
      });
      const fail = (e: unknown): void => {
        clearTimeout(timer);
        if ((e as Error)?.name === 'AbortError') return reject(e);
        const code = (e as NodeJS.ErrnoException)?.code;
        reject(new HoardError('UNAVAILABLE', `${where}: storage unavailable (${code ? `${code} ` : ''}${(e as Error)?.message ?? e})`, { cause: e }));
      };
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${this.opts.requestTimeoutMs} ms`)), this.opts.requestTimeoutMs);
      req.setTimeout(this.opts.idleTimeoutMs, () => req.destroy(new Error(`connection idle for ${this.opts.idleTimeoutMs} ms`)));
      req.on('error', fail);
      req.on('response', (res) => {
        clearTimeout(timer);
        resolve(res);
      });
      req.end();
    });
  }
}
