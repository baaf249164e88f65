import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { packageRoot } from '../../lib/root.js';
import { testClusterDomain, testImage, type TestCluster } from './kube.js';
import { checkFiles, fileContent, MANIFEST } from './test-data-http.mjs';

/**
 * Test data served from inside the cluster, so worker pods and loader Jobs read it as they would
 * any HTTP store: a Pod running test-data-http.mjs (shipped in a ConfigMap, started with the
 * image's `node`) behind a ClusterIP Service, in the test's namespace (deleted with it). On the
 * emulator its kubelet runs the same Pod as a local process with a pod IP of its own.
 */
const PORT = 8080;
const DIR = '/etc/hoard-test-data';
const SCRIPT = 'test-data-http.mjs';
const APP = 'hoard-test-data';

export interface DataServer {
  /** Base URI of the data, reachable from pods (in-cluster DNS name; the pod IP on the emulator). */
  uri: string;
  /** A Dataset mount of the data: the uri and the listing (options.manifest). */
  mount(name: string): { name: string; uri: string; options: Record<string, string> };
  /** The bytes served for `path`. */
  content(path: string): Buffer;
  files: Readonly<Record<string, number>>;
  totalBytes: number;
}

/** The emulator's kubelet runs these pods as real processes (kube.ts). */
export function isDataServerPod(pod: { metadata: { labels?: Record<string, string> } }): boolean {
  return pod.metadata.labels?.['app.kubernetes.io/name'] === APP;
}

/** Starts the data server `name` in `namespace` serving `files` ({"/path": size}) and waits until it answers. */
export async function startDataServer(cluster: TestCluster, namespace: string, files: Record<string, number>, name = 'test-data'): Promise<DataServer> {
  checkFiles(files);
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const labels = { 'app.kubernetes.io/name': APP, 'app.kubernetes.io/instance': name };
  const script = readFileSync(join(packageRoot(), 'test', 'support', SCRIPT), 'utf8');
  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name, labels }, data: { [SCRIPT]: script, 'files.json': JSON.stringify(files) } } });
  await core.createNamespacedService({
    namespace,
    body: { metadata: { name, labels }, spec: { selector: labels, ports: [{ name: 'http', port: PORT, targetPort: PORT, protocol: 'TCP' }] } },
  });
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, labels },
      spec: {
        enableServiceLinks: false,
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'server',
            image: testImage(),
            imagePullPolicy: 'IfNotPresent',
            command: ['node', `${DIR}/${SCRIPT}`, '--listen', `0.0.0.0:${PORT}`, '--files', `${DIR}/files.json`],
            ports: [{ name: 'http', containerPort: PORT, protocol: 'TCP' }],
            readinessProbe: { httpGet: { path: `/${MANIFEST}`, port: PORT }, periodSeconds: 1 },
            resources: { requests: { cpu: '10m', memory: '64Mi' } },
            volumeMounts: [{ name: 'data', mountPath: DIR, readOnly: true }],
          },
        ],
        volumes: [{ name: 'data', configMap: { name } }],
      },
    },
  });
  // A real cluster may first pull the image.
  const pod = await waitReady(core, namespace, name, cluster.emulated ? 30_000 : 180_000);
  const uri = cluster.emulated ? `http://${pod.status!.podIP}:${PORT}/` : `http://${name}.${namespace}.svc.${testClusterDomain()}:${PORT}/`;
  return {
    uri,
    mount: (mountName) => ({ name: mountName, uri, options: { manifest: MANIFEST } }),
    content: (path) => {
      const size = files[path];
      if (size === undefined) throw new Error(`the data server has no ${path}`);
      return fileContent(path, size);
    },
    files,
    totalBytes: Object.values(files).reduce((a, b) => a + b, 0),
  };
}

async function waitReady(core: CoreV1Api, namespace: string, name: string, timeoutMs: number): Promise<V1Pod> {
  const deadline = Date.now() + timeoutMs;
  let pod: V1Pod | undefined;
  while (Date.now() < deadline) {
    pod = await core.readNamespacedPod({ namespace, name }).catch(() => undefined);
    if (pod?.status?.podIP && pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) return pod;
    await new Promise((r) => setTimeout(r, 200));
  }
  const state = JSON.stringify(pod?.status?.containerStatuses?.[0]?.state ?? pod?.status?.phase ?? 'no pod');
  throw new Error(`data server pod ${namespace}/${name} not ready within ${timeoutMs} ms: ${state}`);
}
