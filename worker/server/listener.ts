import net from 'node:net';
import type { Logger } from '../../lib/log.js';
import { MAGIC } from '../proto/data-protocol.js';
import { formatAddress, type ListenAddress } from './address.js';

/**
 * One TCP port for two protocols: each new connection is routed by its first bytes, an HTTP/2
 * client preface to gRPC, the data-protocol magic to the data server. So the Kubernetes Service,
 * SRV records and --listen stay as they were when the port spoke gRPC only.
 */
export interface ProtocolRoutes {
  http2(socket: net.Socket): void;
  data(socket: net.Socket): void;
}

export interface SharedListener {
  port: number;
  /** Stops accepting; resolves once every accepted connection has closed. */
  close(): Promise<void>;
  /** Destroys every accepted connection still open, whichever protocol it speaks. */
  destroyAll(): void;
}

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** A client that connects and says nothing is dropped after this long. */
const SNIFF_TIMEOUT_MS = 10_000;

export function listenShared(listen: ListenAddress, routes: ProtocolRoutes, logger: Logger): Promise<SharedListener> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    sniff(socket, routes, logger);
  });
  const host = listen.host.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new Error(`--listen ${formatAddress(listen.host, listen.port)}: cannot listen: ${err.message}`));
    server.once('error', onError);
    server.listen({ host, port: listen.port }, () => {
      server.off('error', onError);
      // A failed accept (e.g. EMFILE) must not take the worker down.
      server.on('error', (err) => logger.error({ err }, 'listener error'));
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        close: () => new Promise((done) => server.close(() => done())),
        destroyAll: () => {
          for (const s of sockets) s.destroy();
        },
      });
    });
  });
}

function sniff(socket: net.Socket, routes: ProtocolRoutes, logger: Logger): void {
  let head: Buffer = Buffer.alloc(0);
  const done = (): void => {
    socket.off('data', onData);
    socket.off('error', onError);
    socket.setTimeout(0);
    socket.off('timeout', onTimeout);
  };
  const drop = (why: string): void => {
    done();
    logger.warn({ remote: socket.remoteAddress, why, firstBytes: head.subarray(0, 16).toString('hex') }, 'closed a connection that spoke neither gRPC nor the Hoard data protocol');
    socket.destroy();
  };
  const onData = (chunk: Buffer): void => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const route = routeOf(head);
    if (route === 'wait') return;
    if (route === 'none') return drop('unknown first bytes');
    done();
    socket.pause();
    // The route's parser expects to see the connection from its first byte.
    socket.unshift(head);
    if (route === 'http2') routes.http2(socket);
    else routes.data(socket);
  };
  // A reset before the first bytes is routine (health checks, port scans): nothing to report.
  const onError = (): void => {
    done();
    socket.destroy();
  };
  const onTimeout = (): void => drop(`nothing received within ${SNIFF_TIMEOUT_MS} ms`);
  socket.on('data', onData);
  socket.on('error', onError);
  socket.setTimeout(SNIFF_TIMEOUT_MS, onTimeout);
}

function routeOf(head: Buffer): 'http2' | 'data' | 'wait' | 'none' {
  for (const [magic, route] of [[HTTP2_PREFACE, 'http2'], [MAGIC, 'data']] as const) {
    const n = Math.min(head.length, magic.length);
    if (head.compare(magic, 0, n, 0, n) !== 0) continue;
    return n === magic.length ? route : 'wait';
  }
  return 'none';
}
