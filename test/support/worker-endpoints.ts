import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { CoreV1Api, PortForward, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { names, WORKER_GRPC_PORT } from '../../operator/builders/names.js';
import { testClusterDomain, type TestCluster } from './kube.js';

/**
 * How a test operator, running on the test machine, reaches the cluster's own worker pods for
 * stats, readiness reasons and purges: a live `endpointOverrides` map ("ns/dataset" -> one
 * host:port per worker ordinal) kept in step with the worker pods of a namespace.
 *
 * - `pod-ip` (the emulator): pod IP:9400; its kubelet gives each pod a reachable loopback IP.
 * - `port-forward` (a real cluster, whose pod IPs the test machine usually cannot reach): a local
 *   127.0.0.1 port per pod, each connection tunnelled to the pod's gRPC port through the API
 *   server, as `kubectl port-forward` does (needs RBAC for pods/portforward).
 *
 * Both share the pod tracking; an ordinal with no pod yet keeps its in-cluster DNS name (the
 * operator's default), which simply does not answer.
 */
export type WorkerAccess = 'pod-ip' | 'port-forward';

export interface WorkerEndpoints {
  overrides: Map<string, string[]>;
  stop(): Promise<void>;
}

const WORKER_SELECTOR = 'app.kubernetes.io/name=hoard,app.kubernetes.io/component=worker';

export async function trackWorkerEndpoints(cluster: TestCluster, namespace: string, access: WorkerAccess = cluster.emulated ? 'pod-ip' : 'port-forward'): Promise<WorkerEndpoints> {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const overrides = new Map<string, string[]>();
  const forwards = new Map<string, Forward>(); // by pod uid
  let stopped = false;

  const endpointOf = async (pod: V1Pod): Promise<string | undefined> => {
    if (pod.status?.phase !== 'Running' || !pod.status.podIP || pod.metadata?.deletionTimestamp) return undefined;
    if (access === 'pod-ip') return `${pod.status.podIP}:${WORKER_GRPC_PORT}`;
    const uid = pod.metadata!.uid!;
    let f = forwards.get(uid);
    if (!f) forwards.set(uid, (f = await forwardPort(cluster.kubeConfig, namespace, pod.metadata!.name!, WORKER_GRPC_PORT)));
    return f.address;
  };

  const refresh = async (): Promise<void> => {
    const pods = (await core.listNamespacedPod({ namespace, labelSelector: WORKER_SELECTOR })).items;
    const byDataset = new Map<string, string[]>();
    const live = new Set<string>();
    for (const pod of pods) {
      const dataset = pod.metadata?.labels?.['app.kubernetes.io/instance'];
      const prefix = `${names.workers(dataset ?? '')}-`;
      const ordinal = Number(pod.metadata!.name!.slice(prefix.length));
      if (!dataset || !pod.metadata!.name!.startsWith(prefix) || !Number.isSafeInteger(ordinal) || ordinal < 0 || ordinal > 1000) continue;
      const endpoint = await endpointOf(pod);
      if (!endpoint) continue;
      live.add(pod.metadata!.uid!);
      const list = byDataset.get(dataset) ?? [];
      list[ordinal] = endpoint;
      byDataset.set(dataset, list);
    }
    for (const [dataset, list] of byDataset) {
      const dns = (i: number) => `${names.workers(dataset)}-${i}.${names.service(dataset)}.${namespace}.svc.${testClusterDomain()}:${WORKER_GRPC_PORT}`;
      overrides.set(`${namespace}/${dataset}`, Array.from(list, (e, i) => e ?? dns(i)));
    }
    for (const key of overrides.keys()) if (!byDataset.has(key.slice(namespace.length + 1))) overrides.delete(key);
    for (const [uid, f] of forwards) {
      if (live.has(uid)) continue;
      forwards.delete(uid);
      await f.close();
    }
  };

  await refresh();
  const loop = (async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, 300));
      // A failed list (API server busy) keeps the last map; the next round tries again.
      if (!stopped) await refresh().catch(() => undefined);
    }
  })();
  return {
    overrides,
    async stop() {
      stopped = true;
      await loop;
      await Promise.all([...forwards.values()].map((f) => f.close()));
      forwards.clear();
    },
  };
}

interface Forward {
  /** 127.0.0.1:<port> */
  address: string;
  close(): Promise<void>;
}

/** A local port whose every connection is tunnelled to `port` of the pod through the API server. */
export async function forwardPort(kc: KubeConfig, namespace: string, pod: string, port: number): Promise<Forward> {
  const pf = new PortForward(kc);
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    // The error channel carries text only when the API server or kubelet could not connect.
    const errors = new Writable({
      write(chunk: Buffer, _enc, done) {
        if (chunk.length > 0) socket.destroy(new Error(`port-forward ${namespace}/${pod}:${port}: ${chunk.toString('utf8')}`));
        done();
      },
    });
    pf.portForward(namespace, pod, [port], socket, errors, socket).then(
      (ws) => {
        const w = ws as unknown as { on(ev: string, fn: () => void): void; close(): void };
        // client-node ends the tunnel when the socket ends; the other direction is ours to do.
        w.on('close', () => socket.destroy());
        w.on('error', () => socket.destroy());
        socket.on('close', () => w.close());
      },
      () => socket.destroy(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port: local } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${local}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * The `id=host:port` list a `hoard load --workers-srv <srv>` would find, from the API instead of
 * DNS (the emulator has no cluster DNS): the ready pods of the headless Service the SRV name
 * names (`_grpc._tcp.<service>.<namespace>.svc.<domain>`), by pod IP.
 */
export async function resolveWorkersSrv(kc: KubeConfig, srv: string): Promise<string[]> {
  const m = /^_grpc\._tcp\.([a-z0-9-]+)\.([a-z0-9-]+)\.svc\./.exec(srv);
  if (!m) throw new Error(`"${srv}" is not a worker SRV name (_grpc._tcp.<service>.<namespace>.svc.<domain>)`);
  const [, service, namespace] = m as unknown as [string, string, string];
  const core = kc.makeApiClient(CoreV1Api);
  const svc = await core.readNamespacedService({ namespace, name: service });
  const selector = Object.entries(svc.spec?.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  const pods = (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
  return pods
    .filter((p) => p.status?.podIP && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
    .map((p) => `${p.metadata!.name}=${p.status!.podIP}:${WORKER_GRPC_PORT}`)
    .sort();
}
