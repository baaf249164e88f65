import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { HoardError } from '../../lib/errors.js';

export interface HttpClientOptions {
  connectTimeoutMs: number;
  /** Time until response headers arrive. */
  responseTimeoutMs: number;
  /** Longest silence allowed while a body streams. */
  idleTimeoutMs: number;
  maxAttempts: number;
}

const RETRYABLE_STATUS = new Set([502, 503, 504]);
const MAX_REDIRECTS = 5;

/**
 * A small HTTP client for idempotent GET/HEAD with the guarantees the cache needs: every phase has
 * a timeout, failures are retried a bounded number of times, redirects are followed, and the body
 * is never decoded (Accept-Encoding: identity), because byte ranges refer to the stored bytes.
 */
export class HttpClient {
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 64 });

  constructor(private readonly opts: HttpClientOptions) {}

  /** Resolves with the response (body unread); the caller must consume or destroy it. */
  async send(method: 'GET' | 'HEAD', url: URL, headers: Record<string, string>, signal?: AbortSignal): Promise<IncomingMessage> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.opts.maxAttempts; attempt++) {
      try {
        const res = await this.followRedirects(method, url, headers, signal);
        if (RETRYABLE_STATUS.has(res.statusCode ?? 0) && attempt < this.opts.maxAttempts) {
          res.destroy();
          lastError = new HoardError('UNAVAILABLE', `${method} ${redact(url)}: HTTP ${res.statusCode}`);
        } else {
          return res;
        }
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        lastError = e;
      }
      if (attempt < this.opts.maxAttempts) await sleep(100 * attempt, undefined, { signal });
    }
    throw lastError instanceof HoardError
      ? lastError
      : new HoardError('UNAVAILABLE', `${method} ${redact(url)}: ${describe(lastError)}`, { cause: lastError });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private async followRedirects(method: 'GET' | 'HEAD', url: URL, headers: Record<string, string>, signal?: AbortSignal): Promise<IncomingMessage> {
    let current = url;
    for (let hop = 0; ; hop++) {
      const res = await this.once(method, current, headers, signal);
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(status) || !location) return res;
      res.destroy();
      if (hop >= MAX_REDIRECTS) throw new HoardError('UNAVAILABLE', `${method} ${redact(url)}: more than ${MAX_REDIRECTS} redirects`);
      current = new URL(location, current);
      if (current.protocol !== 'http:' && current.protocol !== 'https:') {
        throw new HoardError('UNAVAILABLE', `${method} ${redact(url)}: redirect to unsupported scheme ${current.protocol}`);
      }
    }
  }

  private once(method: string, url: URL, headers: Record<string, string>, signal?: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const isHttps = url.protocol === 'https:';
      const req = (isHttps ? httpsRequest : httpRequest)(url, {
        method,
        headers: { 'accept-encoding': 'identity', ...headers },
        agent: isHttps ? this.httpsAgent : this.httpAgent,
        signal,
      });
      const fail = (err: Error): void => {
        clearTimeout(connectTimer);
        clearTimeout(responseTimer);
        req.destroy(err);
        reject(err);
      };
      let connectTimer: NodeJS.Timeout | undefined;
      const responseTimer = setTimeout(
        () => fail(timeoutError(`no response within ${this.opts.responseTimeoutMs} ms`)),
        this.opts.responseTimeoutMs,
      );
      req.on('socket', (socket) => {
        if (socket.connecting) {
          connectTimer = setTimeout(() => fail(timeoutError(`connect timed out after ${this.opts.connectTimeoutMs} ms`)), this.opts.connectTimeoutMs);
          socket.once('connect', () => clearTimeout(connectTimer));
        }
      });
      req.setTimeout(this.opts.idleTimeoutMs, () => {
        const err = timeoutError(`no data for ${this.opts.idleTimeoutMs} ms`);
        req.destroy(err);
        reject(err);
      });
      req.on('error', (err) => {
        clearTimeout(connectTimer);
        clearTimeout(responseTimer);
        reject(err);
      });
      req.on('response', (res) => {
        clearTimeout(connectTimer);
        clearTimeout(responseTimer);
        resolve(res);
      });
      req.end();
    });
  }
}

function timeoutError(message: string): Error {
  return Object.assign(new Error(message), { name: 'TimeoutError', code: 'ETIMEDOUT' });
}

function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err?.code ? `${err.code} ${err.message}` : (err?.message ?? String(e));
}

/** URLs may carry signed query strings (tokens): errors show scheme, host and path only. */
export function redact(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}
