import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppsV1Api, CoordinationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type V1StatefulSet } from '@kubernetes/client-node';
import { startApiServer, type ApiServer } from './support/apiserver/index.js';
import { apiFailure } from './support/kube.js';

/** The emulator through unmodified @kubernetes/client-node: CRUD, errors, concurrency, metadata rules. */

let server: ApiServer;
let core: CoreV1Api;
let apps: AppsV1Api;

beforeAll(async () => {
  server = await startApiServer();
  core = server.kubeConfig.makeApiClient(CoreV1Api);
  apps = server.kubeConfig.makeApiClient(AppsV1Api);
  await core.createNamespace({ body: { metadata: { name: 'crud' } } });
});

afterAll(async () => {
  await server?.stop();
});

const failure = apiFailure;

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function sts(name: string, replicas = 1): V1StatefulSet {
  return {
    metadata: { name, labels: { app: name } },
    spec: {
      replicas,
      serviceName: name,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
    },
  };
}

describe('CRUD on built-in resources', () => {
  it('creates, reads, lists, updates, patches and deletes a ConfigMap', async () => {
    const created = await core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { name: 'cm1', labels: { a: '1' } }, data: { k: 'v' } } });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(Number(created.metadata?.resourceVersion)).toBeGreaterThan(0);
    expect(created.metadata?.namespace).toBe('crud');

    const read = await core.readNamespacedConfigMap({ name: 'cm1', namespace: 'crud' });
    expect(read.data).toEqual({ k: 'v' });

    const list = await core.listNamespacedConfigMap({ namespace: 'crud' });
    expect(list.items.map((i) => i.metadata?.name)).toEqual(['cm1']);
    expect(Number(list.metadata?.resourceVersion)).toBeGreaterThanOrEqual(Number(created.metadata?.resourceVersion));

    read.data = { k: 'v2' };
    const updated = await core.replaceNamespacedConfigMap({ name: 'cm1', namespace: 'crud', body: read });
    expect(updated.data).toEqual({ k: 'v2' });
    expect(Number(updated.metadata?.resourceVersion)).toBeGreaterThan(Number(read.metadata?.resourceVersion));
    expect(updated.metadata?.uid).toBe(created.metadata?.uid);

    const merged = await core.patchNamespacedConfigMap({ name: 'cm1', namespace: 'crud', body: { data: { extra: 'x' } } }, merge);
    expect(merged.data).toEqual({ k: 'v2', extra: 'x' });

    const jsonPatched = await core.patchNamespacedConfigMap(
      { name: 'cm1', namespace: 'crud', body: [{ op: 'remove', path: '/data/k' }, { op: 'add', path: '/metadata/labels/b', value: '2' }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    expect(jsonPatched.data).toEqual({ extra: 'x' });
    expect(jsonPatched.metadata?.labels).toEqual({ a: '1', b: '2' });

    const strategic = await core.patchNamespacedConfigMap({ name: 'cm1', namespace: 'crud', body: { data: { s: 'y' } } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
    expect(strategic.data).toEqual({ extra: 'x', s: 'y' });

    await core.deleteNamespacedConfigMap({ name: 'cm1', namespace: 'crud' });
    const gone = await failure(() => core.readNamespacedConfigMap({ name: 'cm1', namespace: 'crud' }));
    expect(gone.code).toBe(404);
  });

  it('answers NotFound and AlreadyExists with real Status bodies', async () => {
    const nf = await failure(() => apps.readNamespacedStatefulSet({ name: 'nope', namespace: 'crud' }));
    expect(nf).toEqual({
      code: 404,
      status: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'statefulsets.apps "nope" not found', reason: 'NotFound', details: { name: 'nope', group: 'apps', kind: 'statefulsets' }, code: 404 },
    });
    await core.createNamespacedSecret({ namespace: 'crud', body: { metadata: { name: 's1' }, stringData: { a: 'b' } } });
    const ae = await failure(() => core.createNamespacedSecret({ namespace: 'crud', body: { metadata: { name: 's1' } } }));
    expect(ae.code).toBe(409);
    expect(ae.status).toMatchObject({ reason: 'AlreadyExists', message: 'secrets "s1" already exists', details: { name: 's1', kind: 'secrets' }, code: 409 });
    const noNs = await failure(() => core.createNamespacedConfigMap({ namespace: 'missing', body: { metadata: { name: 'x' } } }));
    expect(noNs.code).toBe(404);
    expect(noNs.status.message).toBe('namespaces "missing" not found');
  });

  it('generates names from generateName', async () => {
    const a = await core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { generateName: 'gen-' } } });
    const b = await core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { generateName: 'gen-' } } });
    expect(a.metadata?.name).toMatch(/^gen-[a-z0-9]{5}$/);
    expect(b.metadata?.name).not.toBe(a.metadata?.name);
  });

  it('rejects invalid names and labels with 422 naming the field', async () => {
    const bad = await failure(() => core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { name: 'Bad_Name' } } }));
    expect(bad.code).toBe(422);
    expect(bad.status.reason).toBe('Invalid');
    expect(bad.status.details.causes[0]).toMatchObject({ reason: 'FieldValueInvalid', field: 'metadata.name' });
    const label = await failure(() => core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { name: 'ok', labels: { app: 'x'.repeat(64) } } } }));
    expect(label.code).toBe(422);
    expect(label.status.details.causes[0].field).toBe('metadata.labels');
  });

  it('rejects a stale resourceVersion with 409 Conflict and accepts the fresh one', async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { name: 'occ' }, data: { n: '0' } } });
    const first = await core.replaceNamespacedConfigMap({ name: 'occ', namespace: 'crud', body: { ...cm, data: { n: '1' } } });
    const stale = await failure(() => core.replaceNamespacedConfigMap({ name: 'occ', namespace: 'crud', body: { ...cm, data: { n: '2' } } }));
    expect(stale.code).toBe(409);
    expect(stale.status).toMatchObject({
      reason: 'Conflict',
      message: 'Operation cannot be fulfilled on configmaps "occ": the object has been modified; please apply your changes to the latest version and try again',
    });
    // A merge patch carrying a resourceVersion is a precondition too.
    const stalePatch = await failure(() => core.patchNamespacedConfigMap({ name: 'occ', namespace: 'crud', body: { metadata: { resourceVersion: cm.metadata?.resourceVersion }, data: { n: '3' } } }, merge));
    expect(stalePatch.code).toBe(409);
    const ok = await core.replaceNamespacedConfigMap({ name: 'occ', namespace: 'crud', body: { ...first, data: { n: '2' } } });
    expect(ok.data).toEqual({ n: '2' });
  });

  it('does not bump resourceVersion on a no-op update', async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: 'crud', body: { metadata: { name: 'noop' }, data: { a: 'b' } } });
    const same = await core.replaceNamespacedConfigMap({ name: 'noop', namespace: 'crud', body: cm });
    expect(same.metadata?.resourceVersion).toBe(cm.metadata?.resourceVersion);
  });

  it('serves cluster-scoped PersistentVolumes and Leases', async () => {
    const pv = await core.createPersistentVolume({
      body: { metadata: { name: 'pv-a' }, spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadOnlyMany'], csi: { driver: 'csi.hoard.dev', volumeHandle: 'h' } } },
    });
    expect(pv.metadata?.namespace).toBeUndefined();
    expect(pv.status?.phase).toBe('Available');
    expect((await core.listPersistentVolume()).items.map((p) => p.metadata?.name)).toContain('pv-a');
    const leases = server.kubeConfig.makeApiClient(CoordinationV1Api);
    const lease = await leases.createNamespacedLease({ namespace: 'crud', body: { metadata: { name: 'leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } } });
    const renewed = await leases.replaceNamespacedLease({ name: 'leader', namespace: 'crud', body: { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } } });
    expect(renewed.spec?.holderIdentity).toBe('b');
    expect((await failure(() => leases.replaceNamespacedLease({ name: 'leader', namespace: 'crud', body: lease }))).code).toBe(409);
  });
});

describe('generation and the status subresource', () => {
  it('bumps generation on spec changes only', async () => {
    const s = await apps.createNamespacedStatefulSet({ namespace: 'crud', body: sts('gen') });
    expect(s.metadata?.generation).toBe(1);
    const labelled = await apps.patchNamespacedStatefulSet({ name: 'gen', namespace: 'crud', body: { metadata: { labels: { extra: 'y' } } } }, merge);
    expect(labelled.metadata?.generation).toBe(1);
    const scaled = await apps.patchNamespacedStatefulSet({ name: 'gen', namespace: 'crud', body: { spec: { replicas: 3 } } }, merge);
    expect(scaled.metadata?.generation).toBe(2);
    const status = await apps.patchNamespacedStatefulSetStatus({ name: 'gen', namespace: 'crud', body: { status: { replicas: 3, readyReplicas: 1 } } }, merge);
    expect(status.metadata?.generation).toBe(2);
    expect(status.status?.readyReplicas).toBe(1);
  });

  it('ignores status on the main endpoint and everything else on /status', async () => {
    const s = await apps.createNamespacedStatefulSet({ namespace: 'crud', body: { ...sts('sub'), status: { replicas: 9 } } });
    expect(s.status).toBeUndefined();
    const st = await apps.replaceNamespacedStatefulSetStatus({ name: 'sub', namespace: 'crud', body: { ...s, spec: { ...s.spec!, replicas: 5 }, status: { replicas: 1, readyReplicas: 1 } } });
    expect(st.spec?.replicas).toBe(1);
    expect(st.status).toEqual({ replicas: 1, readyReplicas: 1 });
    const main = await apps.replaceNamespacedStatefulSet({ name: 'sub', namespace: 'crud', body: { ...st, status: { replicas: 0 } } });
    expect(main.status?.replicas).toBe(1);
  });

  it('serves /scale (autoscaling/v1) and applies it to spec.replicas', async () => {
    await apps.createNamespacedStatefulSet({ namespace: 'crud', body: sts('scaled', 2) });
    const scale = await apps.readNamespacedStatefulSetScale({ name: 'scaled', namespace: 'crud' });
    expect(scale.spec?.replicas).toBe(2);
    expect(scale.status?.selector).toBe('app=scaled');
    const after = await apps.patchNamespacedStatefulSetScale({ name: 'scaled', namespace: 'crud', body: { spec: { replicas: 4 } } }, merge);
    expect(after.spec?.replicas).toBe(4);
    const s = await apps.readNamespacedStatefulSet({ name: 'scaled', namespace: 'crud' });
    expect(s.spec?.replicas).toBe(4);
    expect(s.metadata?.generation).toBe(2);
  });

  it('creates on server-side apply and merges on re-apply', async () => {
    const apply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
    const first = await core.patchNamespacedConfigMap(
      { name: 'applied', namespace: 'crud', fieldManager: 'test', force: true, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied' }, data: { a: '1' } } },
      apply,
    );
    expect(first.data).toEqual({ a: '1' });
    const second = await core.patchNamespacedConfigMap(
      { name: 'applied', namespace: 'crud', fieldManager: 'test', force: true, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied' }, data: { b: '2' } } },
      apply,
    );
    expect(second.data).toEqual({ a: '1', b: '2' });
  });
});

describe('selectors', () => {
  beforeAll(async () => {
    await core.createNamespace({ body: { metadata: { name: 'sel' } } });
    const mk = (name: string, labels: Record<string, string>) => core.createNamespacedConfigMap({ namespace: 'sel', body: { metadata: { name, labels } } });
    await mk('a', { tier: 'cache', env: 'prod' });
    await mk('b', { tier: 'cache', env: 'dev' });
    await mk('c', { tier: 'web' });
  });

  const names = async (labelSelector?: string, fieldSelector?: string) =>
    (await core.listNamespacedConfigMap({ namespace: 'sel', labelSelector, fieldSelector })).items.map((i) => i.metadata?.name);

  it('filters by equality and set-based label selectors', async () => {
    expect(await names('tier=cache')).toEqual(['a', 'b']);
    expect(await names('tier==cache,env!=prod')).toEqual(['b']);
    expect(await names('env in (prod,dev)')).toEqual(['a', 'b']);
    expect(await names('tier notin (cache)')).toEqual(['c']);
    expect(await names('env')).toEqual(['a', 'b']);
    expect(await names('!env')).toEqual(['c']);
  });

  it('filters by metadata.name / metadata.namespace field selectors', async () => {
    expect(await names(undefined, 'metadata.name=b')).toEqual(['b']);
    expect(await names(undefined, 'metadata.name!=b')).toEqual(['a', 'c']);
    const all = await core.listConfigMapForAllNamespaces({ fieldSelector: 'metadata.namespace=sel' });
    expect(all.items).toHaveLength(3);
  });

  it('rejects an unparsable selector with 400', async () => {
    const r = await failure(() => core.listNamespacedConfigMap({ namespace: 'sel', labelSelector: 'a in b' }));
    expect(r.code).toBe(400);
    expect(r.status.reason).toBe('BadRequest');
  });

  it('pages with limit and continue', async () => {
    const p1 = await core.listNamespacedConfigMap({ namespace: 'sel', limit: 2 });
    expect(p1.items.map((i) => i.metadata?.name)).toEqual(['a', 'b']);
    expect(p1.metadata?.remainingItemCount).toBe(1);
    const p2 = await core.listNamespacedConfigMap({ namespace: 'sel', limit: 2, _continue: p1.metadata?._continue });
    expect(p2.items.map((i) => i.metadata?.name)).toEqual(['c']);
    expect(p2.metadata?._continue).toBeUndefined();
  });
});
