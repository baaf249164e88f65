import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { mkdir, rm, stat } from 'node:fs/promises';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../../lib/log.js';
import { toServiceError } from './errors.js';
import { loadCsi } from './proto.js';
import { redactRequest } from './validation.js';

type Handler = (req: any) => Promise<unknown>;

/** Calls the kubelet makes constantly: logged at debug so they do not drown the mutating ones. */
const QUIET = new Set(['Probe', 'GetPluginInfo', 'GetPluginCapabilities', 'NodeGetCapabilities', 'NodeGetInfo', 'NodeGetVolumeStats', 'ControllerGetCapabilities']);

/** Wraps async handlers: request log (secrets redacted), error -> gRPC status, duration. */
function wrap(handlers: Record<string, Handler>, logger: Logger): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const [method, fn] of Object.entries(handlers)) {
    impl[method] = (call: ServerUnaryCall<any, any>, callback: sendUnaryData<any>) => {
      const started = Date.now();
      const level = QUIET.has(method) ? 'debug' : 'info';
      logger[level]({ method, request: redactRequest(call.request) }, 'csi call');
      fn(call.request).then(
        (res) => {
          logger[level]({ method, ms: Date.now() - started }, 'csi call ok');
          callback(null, res);
        },
        (err: unknown) => {
          const se = toServiceError(err);
          logger.warn({ method, code: se.code, error: se.details, ms: Date.now() - started }, 'csi call failed');
          callback(se as any, null);
        },
      );
    };
  }
  return impl;
}

/** `unix:///csi/csi.sock`, `unix:/csi/csi.sock` or a bare absolute path -> the socket path. */
export function socketPathOf(endpoint: string): string {
  const m = /^unix:(?:\/\/)?(\/.*)$/.exec(endpoint);
  const path = m ? m[1]! : endpoint;
  if (!path.startsWith('/')) throw new Error(`--endpoint: "${endpoint}" must be unix:///absolute/path.sock`);
  return path;
}

/** The services one socket serves: Identity always, then Node (node plugin) or Controller (controller mode). */
export interface CsiServices {
  Identity: Record<string, Handler>;
  Node?: Record<string, Handler>;
  Controller?: Record<string, Handler>;
}

export async function startGrpc(endpoint: string, services: CsiServices, logger: Logger): Promise<{ server: Server; socket: string }> {
  const socket = socketPathOf(endpoint);
  await mkdir(dirname(socket), { recursive: true });
  // A socket left by a previous (killed) plugin would make bind fail with EADDRINUSE.
  const st = await stat(socket).catch(() => undefined);
  if (st?.isSocket()) await rm(socket);
  else if (st) throw new Error(`--endpoint: ${socket} exists and is not a socket`);
  const csi = loadCsi();
  const server = new Server();
  for (const name of ['Identity', 'Node', 'Controller'] as const) {
    const handlers = services[name];
    if (handlers) server.addService(csi[name].service, wrap(handlers, logger));
  }
  await new Promise<void>((ok, fail) => server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (err) => (err ? fail(err) : ok())));
  return { server, socket };
}

/** Liveness for the kubelet: GET /healthz runs Probe; 200 when ready, 503 with the reasons. */
export async function startHealth(host: string, port: number, notReady: () => Promise<string[]>): Promise<{ server: HttpServer; address: string }> {
  const server = createServer((req, res) => {
    if (req.url !== '/healthz' && req.url !== '/readyz') {
      res.writeHead(404).end('not found\n');
      return;
    }
    notReady().then(
      (reasons) => {
        res.writeHead(reasons.length ? 503 : 200, { 'content-type': 'text/plain' });
        res.end(reasons.length ? `not ready:\n${reasons.join('\n')}\n` : 'ok\n');
      },
      (err: unknown) => res.writeHead(500).end(`probe failed: ${(err as Error).message}\n`),
    );
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok());
  });
  const a = server.address() as AddressInfo;
  return { server, address: `${a.address}:${a.port}` };
}
