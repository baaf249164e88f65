import type { Registry } from './registry.js';
import type { Store } from './store.js';

/** Where a Service's traffic goes on this machine (kube-proxy's job in a cluster). */
export interface ServiceTarget {
  host: string;
  port: number;
}

/** Why a Service cannot be dialled; the text is what kube-apiserver's service resolver says. */
export class ServiceRouteError extends Error {}

/**
 * The emulator's stand-in for cluster networking, used when the API server itself dials a Service
 * (admission webhooks). A test maps a Service port to a local address with route(); resolve()
 * checks the Service as kube-apiserver's ClusterIP resolver does (it must exist, must not be
 * headless or ExternalName, must expose the port), and a Service with no route behaves like
 * one with no ready endpoints: the connection is refused.
 */
export class ServiceRoutes {
  private readonly routes = new Map<string, ServiceTarget>();

  constructor(
    private readonly store: Store,
    private readonly registry: Registry,
  ) {}

  route(service: { namespace: string; name: string; port: number }, target: ServiceTarget): void {
    this.routes.set(`${service.namespace}/${service.name}:${service.port}`, target);
  }

  unroute(service: { namespace: string; name: string; port: number }): void {
    this.routes.delete(`${service.namespace}/${service.name}:${service.port}`);
  }

  /** The address to dial, or undefined when the Service exists but nothing serves it. */
  resolve(namespace: string, name: string, port: number): ServiceTarget | undefined {
    const svc = this.store.tryGet(this.registry.lookup('', 'v1', 'services')!, namespace, name);
    if (!svc) throw new ServiceRouteError(`service "${name}" not found`);
    const type = svc.spec?.type ?? 'ClusterIP';
    if (type === 'ExternalName') throw new ServiceRouteError(`unsupported service type "ExternalName"`);
    if (svc.spec?.clusterIP === 'None') throw new ServiceRouteError('cannot route to service with ClusterIP "None"');
    if (!(svc.spec?.ports ?? []).some((p: { port?: number }) => p.port === port)) throw new ServiceRouteError(`no service port ${port} found for service "${name}"`);
    return this.routes.get(`${namespace}/${name}:${port}`);
  }
}
