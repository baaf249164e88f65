import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../../lib/log.js';
import { formatAddress, type ListenAddress } from './address.js';

export interface HttpDeps {
  registry: Registry;
  /** Readiness with a human reason, e.g. "mount train: connection refused". */
  readiness(): Promise<{ ready: boolean; reason: string }>;
  logger: Logger;
}

export interface RunningHttpServer {
  address: string;
  close(): Promise<void>;
}

/** /metrics (Prometheus text), /healthz (process alive), /readyz (store open and UFS reachable). */
export async function startHttpServer(listen: ListenAddress, deps: HttpDeps): Promise<RunningHttpServer> {
  const server = createServer((req, res) => {
    route(req, res, deps).catch((err: unknown) => {
      deps.logger.error({ err, url: req.url }, 'http handler failed');
      if (!res.headersSent) reply(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  // Scrapers and probes keep connections alive; do not let them hold shutdown open.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`--http ${formatAddress(listen.host, listen.port)}: cannot listen: ${err.message}`)));
    server.listen(listen.port, listen.host.replace(/^\[|\]$/g, ''), () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    address: formatAddress(listen.host, port),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function route(req: IncomingMessage, res: ServerResponse, deps: HttpDeps): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'use GET\n', { allow: 'GET, HEAD' });
  switch (path) {
    case '/metrics':
      return reply(res, 200, await deps.registry.metrics(), { 'content-type': deps.registry.contentType });
    case '/healthz':
      return reply(res, 200, 'ok\n');
    case '/readyz': {
      const r = await deps.readiness();
      return reply(res, r.ready ? 200 : 503, `${r.ready ? 'ready' : 'not ready'}: ${r.reason}\n`);
    }
    default:
      return reply(res, 404, 'not found; try /metrics, /healthz or /readyz\n');
  }
}

function reply(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
