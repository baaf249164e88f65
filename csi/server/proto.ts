import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { join } from 'node:path';
import { packageRoot } from '../../lib/root.js';

/** Options every csi.proto user shares (server and tests), so both see the same field shapes. */
export const CSI_LOADER_OPTIONS = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true } as const;

export function csiProtoPath(): string {
  return join(packageRoot(), 'csi', 'proto', 'csi.proto');
}

export function loadCsi(): { Identity: ServiceClientConstructor; Controller: ServiceClientConstructor; Node: ServiceClientConstructor } {
  const pkg = loadPackageDefinition(loadSync(csiProtoPath(), CSI_LOADER_OPTIONS));
  const v1 = (pkg.csi as GrpcObject).v1 as GrpcObject;
  return { Identity: v1.Identity as ServiceClientConstructor, Controller: v1.Controller as ServiceClientConstructor, Node: v1.Node as ServiceClientConstructor };
}
