import { join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { packageRoot } from '../../lib/root.js';

let cached: protoLoader.PackageDefinition | undefined;

/**
 * worker.proto as both sides decode it (camelCase fields, 64-bit ints as JS numbers), parsed once
 * per process: the client builds its stub from it, the server its service definition.
 */
export function workerProto(): protoLoader.PackageDefinition {
  return (cached ??= protoLoader.loadSync(join(packageRoot(), 'worker', 'proto', 'worker.proto'), {
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  }));
}
