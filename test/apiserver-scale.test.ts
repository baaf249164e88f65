import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, makeInformer, type KubernetesObject } from '@kubernetes/client-node';
import { startApiServer, type ApiServer } from './support/apiserver/index.js';
import { applyManifests, getTestCluster, rawRequest } from './support/kube.js';

/**
 * Operator-benchmark sized load: 200 custom resources and their ~2000 objects with several informers
 * open must all arrive (bounded, never timed), and HOARD_TEST_KUBECONFIG alone selects the cluster.
 */

let server: ApiServer;

beforeAll(async () => {
  server = await startApiServer({ kubelet: true });
  await applyManifests(server.kubeConfig, [
    {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'datasets.bench.hoard.dev' },
      spec: {
        group: 'bench.hoard.dev',
        scope: 'Namespaced',
        names: { plural: 'datasets', kind: 'Dataset' },
        versions: [{ name: 'v1', served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    },
  ]);
});

afterAll(async () => {
  await server?.stop();
});

describe('load', () => {
  it('serves 200 datasets with ~2000 dependent objects to concurrent informers', async () => {
    const core = server.kubeConfig.makeApiClient(CoreV1Api);
    const apps = server.kubeConfig.makeApiClient(AppsV1Api);
    const custom = server.kubeConfig.makeApiClient(CustomObjectsApi);
    await core.createNamespace({ body: { metadata: { name: 'bench' } } });
    const counts = { cm: 0, sts: 0, pods: 0 };
    const informers = [
      makeInformer<KubernetesObject>(server.kubeConfig, '/api/v1/namespaces/bench/configmaps', () => core.listNamespacedConfigMap({ namespace: 'bench' })),
      makeInformer<KubernetesObject>(server.kubeConfig, '/apis/apps/v1/namespaces/bench/statefulsets', () => apps.listNamespacedStatefulSet({ namespace: 'bench' })),
      makeInformer<KubernetesObject>(server.kubeConfig, '/api/v1/pods', () => core.listPodForAllNamespaces()),
    ];
    informers[0].on('add', () => counts.cm++);
    informers[1].on('add', () => counts.sts++);
    informers[2].on('add', () => counts.pods++);
    for (const inf of informers) await inf.start();

    const started = Date.now();
    const N = 200;
    const batch = async (i: number) => {
      const name = `ds-${i}`;
      const ds = (await custom.createNamespacedCustomObject({ group: 'bench.hoard.dev', version: 'v1', plural: 'datasets', namespace: 'bench', body: { apiVersion: 'bench.hoard.dev/v1', kind: 'Dataset', metadata: { name }, spec: { i } } })) as any;
      const owner = [{ apiVersion: 'bench.hoard.dev/v1', kind: 'Dataset', name, uid: ds.metadata.uid, controller: true }];
      for (let k = 0; k < 4; k++) await core.createNamespacedConfigMap({ namespace: 'bench', body: { metadata: { name: `${name}-cm${k}`, ownerReferences: owner }, data: { k: String(k) } } });
      await core.createNamespacedService({ namespace: 'bench', body: { metadata: { name: `${name}-worker`, ownerReferences: owner }, spec: { clusterIP: 'None', selector: { ds: name } } } });
      await apps.createNamespacedStatefulSet({
        namespace: 'bench',
        body: { metadata: { name: `${name}-worker`, ownerReferences: owner }, spec: { replicas: 3, serviceName: `${name}-worker`, selector: { matchLabels: { ds: name } }, template: { metadata: { labels: { ds: name } }, spec: { containers: [{ name: 'w', image: 'x' }] } } } },
      });
    };
    for (let i = 0; i < N; i += 10) await Promise.all(Array.from({ length: 10 }, (_, j) => batch(i + j)));
    const deadline = Date.now() + 45_000;
    while (Date.now() < deadline && (counts.cm < N * 4 || counts.sts < N || counts.pods < N * 3)) await new Promise((r) => setTimeout(r, 50));
    const elapsed = Date.now() - started;
    expect(counts).toEqual({ cm: N * 4, sts: N, pods: N * 3 });
    const objects = (await rawRequest(server.kubeConfig, 'GET', '/api/v1/pods')).body.items.length + N * 6;
    console.log(`apiserver load: ${objects} objects created and observed by 3 informers in ${elapsed} ms`);
    for (const inf of informers) await inf.stop();

    // Deleting the datasets garbage-collects everything they own (and the pods of their StatefulSets).
    await custom.deleteCollectionNamespacedCustomObject({ group: 'bench.hoard.dev', version: 'v1', plural: 'datasets', namespace: 'bench' });
    const gone = Date.now() + 30_000;
    let left = -1;
    while (Date.now() < gone && left !== 0) {
      left = server.store.countInNamespace('bench');
      if (left) await new Promise((r) => setTimeout(r, 50));
    }
    expect(left).toBe(0);
  });
});

describe('getTestCluster', () => {
  it('uses the cluster HOARD_TEST_KUBECONFIG points at, and nothing else', async () => {
    const saved = process.env.HOARD_TEST_KUBECONFIG;
    process.env.HOARD_TEST_KUBECONFIG = server.kubeconfigPath;
    try {
      const cluster = await getTestCluster();
      expect(cluster.emulated).toBe(false);
      expect(cluster.emulator).toBeUndefined();
      const ns = await cluster.kubeConfig.makeApiClient(CoreV1Api).listNamespace();
      expect(ns.items.map((n) => n.metadata?.name)).toContain('bench');
      await cluster.stop();
    } finally {
      if (saved === undefined) delete process.env.HOARD_TEST_KUBECONFIG;
      else process.env.HOARD_TEST_KUBECONFIG = saved;
    }
  });

  it('starts the emulator with the kubelet simulation when the variable is unset', async () => {
    const saved = process.env.HOARD_TEST_KUBECONFIG;
    delete process.env.HOARD_TEST_KUBECONFIG;
    try {
      const cluster = await getTestCluster();
      expect(cluster.emulated).toBe(true);
      expect(cluster.emulator?.kubelet).toBeDefined();
      const nodes = await cluster.kubeConfig.makeApiClient(CoreV1Api).listNode();
      expect(nodes.items.map((n) => n.metadata?.name)).toEqual(['hoard-emulated-node']);
      await cluster.stop();
    } finally {
      if (saved !== undefined) process.env.HOARD_TEST_KUBECONFIG = saved;
    }
  });
});
