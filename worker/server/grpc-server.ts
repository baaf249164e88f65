import * as grpc from '@grpc/grpc-js';
import { formatAddress, type ListenAddress } from './address.js';
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

export async function startGrpcServer(handlers: grpc.UntypedServiceImplementation, listen: ListenAddress): Promise<RunningGrpcServer> {
  const server = new grpc.Server(SERVER_OPTIONS);
  server.addService(workerServiceDefinition(), handlers);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(formatAddress(listen.host, listen.port), grpc.ServerCredentials.createInsecure(), (err, p) => {
      if (err) reject(new Error(`--listen ${formatAddress(listen.host, listen.port)}: cannot listen: ${err.message}`));
      else resolve(p);
    });
  });
  return {
    address: formatAddress(listen.host, port),
    close: (graceMs = 5_000) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
