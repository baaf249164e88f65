import type { DatasetRef } from './source.js';
import { names, WORKER_GRPC_PORT } from '../builders/names.js';

/**
 * Where a dataset's workers answer gRPC: in a cluster, the stable per-pod DNS names of the
 * StatefulSet. `overrides` ("ns/name" -> ["host:port", …]) exists for tests and for operators
 * running outside the cluster network; it is set by --worker-endpoint-override.
 */
export function workerEndpoints(ref: DatasetRef, overrides: Map<string, string[]>, clusterDomain = 'cluster.local'): string[] {
  const override = overrides.get(`${ref.namespace}/${ref.name}`);
  if (override) return override;
  const service = names.service(ref.name);
  return Array.from({ length: ref.replicas }, (_, i) => `${names.workers(ref.name)}-${i}.${service}.${ref.namespace}.svc.${clusterDomain}:${WORKER_GRPC_PORT}`);
}

/** Parses `ns/name=host:port,host:port` (the flag format); errors name the flag and the fix. */
export function parseEndpointOverride(value: string, into = new Map<string, string[]>()): Map<string, string[]> {
  const eq = value.indexOf('=');
  const key = value.slice(0, eq);
  if (eq < 0 || !/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(key)) {
    throw new Error(`--worker-endpoint-override: "${value}" must look like namespace/dataset=host:port[,host:port]`);
  }
  const endpoints = value.slice(eq + 1).split(',').map((s) => s.trim()).filter(Boolean);
  for (const ep of endpoints) {
    if (!/^[^\s:]+:\d+$/.test(ep.replace(/^.*=/, ''))) throw new Error(`--worker-endpoint-override: "${ep}" must be host:port`);
  }
  // "id=host:port" (the workers.ts addresses() form) is accepted too: the id is not needed here.
  into.set(key, endpoints.map((ep) => ep.replace(/^.*=/, '')));
  return into;
}
