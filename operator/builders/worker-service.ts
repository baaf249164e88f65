import type { V1Service } from '@kubernetes/client-node';
import type { CacheRuntime } from '../api/types.js';
import { labels, names, selectorLabels, WORKER_GRPC_PORT, WORKER_HTTP_PORT } from './names.js';
import { controllerRef } from './owner.js';

/**
 * Headless Service whose SRV records (_grpc._tcp.<name>-worker...) are the service registry:
 * clients find ready workers by stable hostname without API-server access.
 */
export function buildWorkerService(rt: CacheRuntime): V1Service {
  const { name, namespace } = rt.metadata;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: names.service(name), namespace, labels: labels(name, 'worker'), ownerReferences: [controllerRef(rt)] },
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: false,
      selector: selectorLabels(name, 'worker'),
      ports: [
        { name: 'grpc', port: WORKER_GRPC_PORT, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'grpc' },
        { name: 'http', port: WORKER_HTTP_PORT, targetPort: 'http', protocol: 'TCP' },
      ],
    },
  };
}
