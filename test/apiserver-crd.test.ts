import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { startApiServer, type ApiServer } from './support/apiserver/index.js';
import { apiFailure, applyManifests } from './support/kube.js';

/** CustomResourceDefinitions installed at runtime: serving, schema validation, defaulting, pruning, subresources. */

let server: ApiServer;
let crds: ApiextensionsV1Api;
let custom: CustomObjectsApi;
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const G = { group: 'test.hoard.dev', version: 'v1alpha1', plural: 'widgets' };

/** Raw JSON (the way kubectl or applyManifests sends it): keeps default/enum/x-kubernetes-* keys. */
const widgetCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.test.hoard.dev' },
  spec: {
    group: 'test.hoard.dev',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wg'] },
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        subresources: { status: {}, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' } },
        additionalPrinterColumns: [{ name: 'Phase', type: 'string', jsonPath: '.status.phase' }],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            required: ['spec'],
            properties: {
              spec: {
                type: 'object',
                required: ['source'],
                properties: {
                  source: { type: 'string', minLength: 1 },
                  replicas: { type: 'integer', minimum: 0, default: 1 },
                  mode: { type: 'string', enum: ['Once', 'Always'], default: 'Once' },
                  quota: { 'x-kubernetes-int-or-string': true },
                  note: { type: 'string', nullable: true },
                  tiers: {
                    type: 'array',
                    items: { type: 'object', required: ['medium'], properties: { medium: { type: 'string', enum: ['MEM', 'SSD'] }, high: { type: 'string', default: '0.95' } } },
                  },
                  options: { type: 'object', additionalProperties: { type: 'string' } },
                  extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                },
              },
              status: { type: 'object', properties: { phase: { type: 'string' }, replicas: { type: 'integer' } } },
            },
          },
        },
      },
    ],
  },
};

beforeAll(async () => {
  server = await startApiServer();
  crds = server.kubeConfig.makeApiClient(ApiextensionsV1Api);
  custom = server.kubeConfig.makeApiClient(CustomObjectsApi);
  await server.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'crd' } } });
  const [created] = await applyManifests(server.kubeConfig, [widgetCrd]);
  expect(created.status.conditions.find((c: any) => c.type === 'Established')?.status).toBe('True');
});

afterAll(async () => {
  await server?.stop();
});

const failure = apiFailure;

const widget = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'test.hoard.dev/v1alpha1', kind: 'Widget', metadata: { name }, spec });

describe('CRD serving', () => {
  it('appears in discovery', async () => {
    const groups = (await (await fetch(`${server.url}/apis`)).json()) as any;
    expect(groups.groups.find((g: any) => g.name === 'test.hoard.dev')?.preferredVersion.groupVersion).toBe('test.hoard.dev/v1alpha1');
    const resources = (await (await fetch(`${server.url}/apis/test.hoard.dev/v1alpha1`)).json()) as any;
    expect(resources.resources.map((r: any) => r.name).sort()).toEqual(['widgets', 'widgets/scale', 'widgets/status']);
    expect(resources.resources[0]).toMatchObject({ kind: 'Widget', namespaced: true, shortNames: ['wg'] });
  });

  it('applies defaults and prunes unknown fields on create', async () => {
    const w = (await custom.createNamespacedCustomObject({
      ...G,
      namespace: 'crd',
      body: widget('w1', { source: 's3://b/p', tiers: [{ medium: 'MEM' }], unknownField: 1, extra: { anything: { goes: true } }, options: { region: 'x' }, note: null }),
    })) as any;
    expect(w.spec).toEqual({ source: 's3://b/p', replicas: 1, mode: 'Once', tiers: [{ medium: 'MEM', high: '0.95' }], extra: { anything: { goes: true } }, options: { region: 'x' }, note: null });
    expect(w.metadata.generation).toBe(1);
    expect(w.status).toBeUndefined();
  });

  it('rejects invalid objects with 422 and causes naming each field', async () => {
    const r = await failure(() =>
      custom.createNamespacedCustomObject({ ...G, namespace: 'crd', body: widget('bad', { replicas: 'three', mode: 'Sometimes', tiers: [{ medium: 'HDD' }], quota: 1.5 }) }),
    );
    expect(r.code).toBe(422);
    expect(r.status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Invalid', details: { name: 'bad', group: 'test.hoard.dev', kind: 'Widget' } });
    const byField = Object.fromEntries(r.status.details.causes.map((c: any) => [c.field, c]));
    expect(byField['spec.source']).toMatchObject({ reason: 'FieldValueRequired', message: 'Required value' });
    expect(byField['spec.replicas']).toMatchObject({ reason: 'FieldValueTypeInvalid', message: 'Invalid value: "string": spec.replicas in body must be of type integer: "string"' });
    expect(byField['spec.mode']).toMatchObject({ reason: 'FieldValueNotSupported', message: 'Unsupported value: "Sometimes": supported values: "Once", "Always"' });
    expect(byField['spec.tiers[0].medium'].reason).toBe('FieldValueNotSupported');
    expect(byField['spec.quota']).toBeDefined();
    expect(r.status.message).toMatch(/^Widget\.test\.hoard\.dev "bad" is invalid: \[/);
    const neg = await failure(() => custom.createNamespacedCustomObject({ ...G, namespace: 'crd', body: widget('neg', { source: 'x', replicas: -1 }) }));
    expect(neg.status.details.causes).toEqual([{ reason: 'FieldValueInvalid', field: 'spec.replicas', message: 'Invalid value: -1: spec.replicas in body should be greater than or equal to 0' }]);
    expect(neg.status.message).toBe('Widget.test.hoard.dev "neg" is invalid: spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0');
  });

  it('validates updates and patches too', async () => {
    await custom.createNamespacedCustomObject({ ...G, namespace: 'crd', body: widget('w2', { source: 'a' }) });
    const r = await failure(() => custom.patchNamespacedCustomObject({ ...G, namespace: 'crd', name: 'w2', body: { spec: { replicas: -5 } } }, merge));
    expect(r.code).toBe(422);
    expect(r.status.details.causes[0].field).toBe('spec.replicas');
  });

  it('keeps status and spec apart (status subresource) and bumps generation on spec only', async () => {
    await custom.createNamespacedCustomObject({ ...G, namespace: 'crd', body: widget('w3', { source: 'a' }) });
    const st = (await custom.patchNamespacedCustomObjectStatus({ ...G, namespace: 'crd', name: 'w3', body: { status: { phase: 'Ready', replicas: 1 }, spec: { source: 'ignored' } } }, merge)) as any;
    expect(st.status).toEqual({ phase: 'Ready', replicas: 1 });
    expect(st.spec.source).toBe('a');
    expect(st.metadata.generation).toBe(1);
    const main = (await custom.patchNamespacedCustomObject({ ...G, namespace: 'crd', name: 'w3', body: { spec: { replicas: 2 }, status: { phase: 'Ignored' } } }, merge)) as any;
    expect(main.status.phase).toBe('Ready');
    expect(main.metadata.generation).toBe(2);
    const stale = await failure(() => custom.replaceNamespacedCustomObject({ ...G, namespace: 'crd', name: 'w3', body: st }));
    expect(stale.code).toBe(409);
  });

  it('serves the scale subresource at the declared paths', async () => {
    await custom.createNamespacedCustomObject({ ...G, namespace: 'crd', body: widget('w4', { source: 'a', replicas: 2 }) });
    const scale = (await custom.getNamespacedCustomObjectScale({ ...G, namespace: 'crd', name: 'w4' })) as any;
    expect(scale).toMatchObject({ kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 2 }, status: { replicas: 0 } });
    await custom.patchNamespacedCustomObjectScale({ ...G, namespace: 'crd', name: 'w4', body: { spec: { replicas: 5 } } }, merge);
    expect(((await custom.getNamespacedCustomObject({ ...G, namespace: 'crd', name: 'w4' })) as any).spec.replicas).toBe(5);
  });

  it('answers kubectl-style Table requests with printer columns', async () => {
    await custom.patchNamespacedCustomObjectStatus({ ...G, namespace: 'crd', name: 'w4', body: { status: { phase: 'Ready' } } }, merge);
    const res = await fetch(`${server.url}/apis/test.hoard.dev/v1alpha1/namespaces/crd/widgets/w4`, { headers: { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' } });
    const table = (await res.json()) as any;
    expect(table.kind).toBe('Table');
    expect(table.columnDefinitions.map((c: any) => c.name)).toEqual(['Name', 'Phase', 'Age']);
    expect(table.rows[0].cells.slice(0, 2)).toEqual(['w4', 'Ready']);
  });

  it('serves cluster-scoped custom resources (CRD created through the typed client)', async () => {
    // Typed client-node models name schema extensions x_kubernetes_*; raw keys would be dropped by its serializer.
    const typed: V1CustomResourceDefinition = {
      metadata: { name: 'pools.test.hoard.dev' },
      spec: {
        group: 'test.hoard.dev',
        scope: 'Cluster',
        names: { plural: 'pools', kind: 'Pool' },
        versions: [{ name: 'v1alpha1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', x_kubernetes_preserve_unknown_fields: true } } } } }],
      },
    };
    await crds.createCustomResourceDefinition({ body: typed });
    await custom.createClusterCustomObject({ group: 'test.hoard.dev', version: 'v1alpha1', plural: 'pools', body: { apiVersion: 'test.hoard.dev/v1alpha1', kind: 'Pool', metadata: { name: 'p1' }, spec: { a: 1 } } });
    const list = (await custom.listClusterCustomObject({ group: 'test.hoard.dev', version: 'v1alpha1', plural: 'pools' })) as any;
    expect(list.kind).toBe('PoolList');
    expect(list.items.map((i: any) => [i.metadata.name, i.metadata.namespace, i.spec])).toEqual([['p1', undefined, { a: 1 }]]);
  });

  it('rejects a malformed CRD with 422', async () => {
    const r = await failure(() =>
      crds.createCustomResourceDefinition({
        body: { metadata: { name: 'wrong.test.hoard.dev' }, spec: { group: 'test.hoard.dev', scope: 'Namespaced', names: { plural: 'things', kind: 'Thing' }, versions: [{ name: 'v1', served: true, storage: true }] } },
      }),
    );
    expect(r.code).toBe(422);
    expect(r.status.details.causes.map((c: any) => c.field).sort()).toEqual(['metadata.name', 'spec.versions[0].schema.openAPIV3Schema']);
  });

  it('deleting the CRD deletes its objects and stops serving it', async () => {
    await crds.createCustomResourceDefinition({
      body: {
        metadata: { name: 'gadgets.test.hoard.dev' },
        spec: {
          group: 'test.hoard.dev',
          scope: 'Namespaced',
          names: { plural: 'gadgets', kind: 'Gadget' },
          versions: [{ name: 'v1alpha1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } } }],
        },
      },
    });
    const g = { group: 'test.hoard.dev', version: 'v1alpha1', plural: 'gadgets', namespace: 'crd' };
    await custom.createNamespacedCustomObject({ ...g, body: { apiVersion: 'test.hoard.dev/v1alpha1', kind: 'Gadget', metadata: { name: 'g1' }, anything: true } });
    await crds.deleteCustomResourceDefinition({ name: 'gadgets.test.hoard.dev' });
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${server.url}/apis/test.hoard.dev/v1alpha1/namespaces/crd/gadgets`);
      if (res.status === 404) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await failure(() => custom.listNamespacedCustomObject(g))).code).toBe(404);
    expect((await failure(() => crds.readCustomResourceDefinition({ name: 'gadgets.test.hoard.dev' }))).code).toBe(404);
    // Other kinds of the group are still served.
    expect(((await custom.listNamespacedCustomObject({ ...G, namespace: 'crd' })) as any).items.length).toBeGreaterThan(0);
  });
});
