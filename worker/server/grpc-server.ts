import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../lib/log.js';
import { formatAddress, type ListenAddress } from './address.js';
import type { DataServer } from './data-server.js';
import { listenShared } from './listener.js';
import { workerServiceDefinition } from './proto.js';

export interface RunningGrpcServer {
  address: string;
  /** Stops accepting calls, lets running ones finish for up to graceMs, then cuts them. */
  close(graceMs?: number): Promise<void>;
}

const SERVER_OPTIONS: grpc.ServerOptions = {
  // A ReadChunk is at most 1 MiB of data plus a few header bytes.
  'grpc.max_send_message_length': 8 * 1024 * 1024,
  'grpc.max_receive_message_length': 8 * 1024 * 1024,
  // Clients ping every ~15 s to find dead peers; do not treat that as abuse.
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
};

/**
 * The worker's port: gRPC, and the bulk data protocol on the same TCP port (listener.ts routes
 * each connection by its first bytes). grpc-js gets its connections injected instead of binding.
 */
export async function startGrpcServer(handlers: grpc.UntypedServiceImplementation, listen: ListenAddress, data: DataServer, logger: Logger): Promise<RunningGrpcServer> {
  const server = new grpc.Server(SERVER_OPTIONS);
  server.addService(workerServiceDefinition(), handlers);
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener = await listenShared(listen, { http2: (s) => injector.injectConnection(s), data: (s) => data.accept(s) }, logger);
  let closing: Promise<void> | undefined;
  return {
    address: formatAddress(listen.host, listener.port),
    close: (graceMs = 5_000) =>
      (closing ??= (async () => {
        const gone = listener.close();
        const grpcDone = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
        let force: NodeJS.Timeout | undefined;
        const timeUp = new Promise<'late'>((resolve) => (force = setTimeout(() => resolve('late'), graceMs)));
        const late = await Promise.race([Promise.all([grpcDone, data.drain()]), timeUp]);
        clearTimeout(force);
        if (late === 'late') server.forceShutdown();
        data.destroy();
        listener.destroyAll();
        await gone;
      })()),
  };
}
