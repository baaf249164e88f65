import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isHoardError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { parseReview, type AdmissionRequest } from './review.js';

/** The path the MutatingWebhookConfiguration calls for pods. */
export const MUTATE_PODS_PATH = '/mutate-pods';
/**
 * The API server sends objects of at most ~3 MiB (etcd's limit) inside a review; twice that
 * covers any real request and bounds what a stranger can make us buffer.
 */
export const MAX_BODY_BYTES = 6 * 1024 * 1024;

export interface WebhookServerOptions {
  port: number;
  host?: string;
  handle(req: AdmissionRequest): Promise<unknown>;
  log: Logger;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) return reject(new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        req.destroy();
        reject(new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`));
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * The webhook's HTTPS endpoint. It listens once it has a certificate (the API server would
 * refuse anything else), and takes a renewed one in place: connections made after
 * setCertificate() get the new certificate, open ones finish on the old.
 */
export class WebhookServer {
  private server?: Server;

  constructor(private readonly o: WebhookServerOptions) {}

  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? this.o.port;
  }

  async setCertificate(cert: string, key: string): Promise<void> {
    if (this.server) {
      this.server.setSecureContext({ cert, key });
      return;
    }
    const server = createServer({ cert, key, minVersion: 'TLSv1.2' }, (req, res) => void this.route(req, res));
    server.requestTimeout = 30_000;
    server.headersTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host ?? '0.0.0.0', () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('tlsClientError', (e) => this.o.log.debug({ err: e.message }, 'TLS handshake failed'));
    this.server = server;
    this.o.log.info({ port: this.port }, 'webhook serving');
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown) => {
      const data = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json', 'Content-Length': Buffer.byteLength(data) });
      res.end(data);
    };
    const path = (req.url ?? '').split('?')[0];
    try {
      if (req.method === 'GET' && (path === '/readyz' || path === '/healthz')) return reply(200, 'ok');
      if (path !== MUTATE_PODS_PATH) throw new HttpError(404, `no handler for ${path.slice(0, 100)}; the API server calls POST ${MUTATE_PODS_PATH}`);
      if (req.method !== 'POST') throw new HttpError(405, `${req.method} not allowed; use POST`);
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'Content-Type must be application/json');
      let body: unknown;
      try {
        body = JSON.parse((await readBody(req)).toString('utf8'));
      } catch (e) {
        if (e instanceof HttpError) throw e;
        throw new HttpError(400, `body: not JSON (${(e as Error).message})`);
      }
      let review: AdmissionRequest;
      try {
        review = parseReview(body);
      } catch (e) {
        throw isHoardError(e, 'INVALID_ARGUMENT') ? new HttpError(400, e.message) : e;
      }
      reply(200, await this.o.handle(review));
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 500;
      if (status === 500) this.o.log.error({ err: (e as Error).message }, 'webhook request failed');
      if (!res.headersSent && !res.destroyed) reply(status, { message: (e as Error).message });
    }
  }
}
