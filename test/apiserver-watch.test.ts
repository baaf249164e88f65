import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, makeInformer, PatchStrategy, setHeaderOptions, Watch, type KubernetesObject, type V1ConfigMap } from '@kubernetes/client-node';
import { startApiServer, type ApiServer } from './support/apiserver/index.js';

/** Watch protocol and informers through unmodified @kubernetes/client-node. */

let server: ApiServer;
let core: CoreV1Api;
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

beforeAll(async () => {
  server = await startApiServer({ watchHistory: 50, bookmarkIntervalMs: 100 });
  core = server.kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'w' } } });
});

afterAll(async () => {
  await server?.stop();
});

interface Seen {
  type: string;
  name?: string;
  rv?: string;
  obj: any;
}

/** Open a client-node Watch; collects events; `until` resolves when `pred` matches the collected list. */
async function watch(path: string, query: Record<string, string | number | boolean | undefined>) {
  const events: Seen[] = [];
  const waiters: { pred: (e: Seen[]) => boolean; resolve: () => void }[] = [];
  let doneErr: unknown = 'open';
  let doneResolve: () => void = () => {};
  const closed = new Promise<void>((r) => (doneResolve = r));
  const controller = await new Watch(server.kubeConfig).watch(
    path,
    query,
    (type, obj: any) => {
      events.push({ type, name: obj?.metadata?.name, rv: obj?.metadata?.resourceVersion, obj });
      for (const w of waiters.splice(0)) if (w.pred(events)) w.resolve();
      else waiters.push(w);
    },
    (err) => {
      doneErr = err;
      doneResolve();
    },
  );
  const until = (pred: (e: Seen[]) => boolean, ms = 5000) =>
    new Promise<void>((resolve, reject) => {
      if (pred(events)) return resolve();
      const t = setTimeout(() => reject(new Error(`watch events so far: ${JSON.stringify(events.map((e) => [e.type, e.name]))}`)), ms);
      waiters.push({ pred, resolve: () => (clearTimeout(t), resolve()) });
    });
  return { events, until, closed, done: () => doneErr, abort: () => controller.abort() };
}

describe('watch', () => {
  it('replays history after a resourceVersion, then streams live events', async () => {
    const start = await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'h0' } } });
    await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'h1' } } });
    await core.patchNamespacedConfigMap({ name: 'h1', namespace: 'w', body: { data: { a: 'b' } } }, merge);
    const w = await watch('/api/v1/namespaces/w/configmaps', { resourceVersion: start.metadata!.resourceVersion, allowWatchBookmarks: false });
    await w.until((e) => e.length >= 2);
    expect(w.events.map((e) => [e.type, e.name])).toEqual([
      ['ADDED', 'h1'],
      ['MODIFIED', 'h1'],
    ]);
    await core.deleteNamespacedConfigMap({ name: 'h0', namespace: 'w' });
    await w.until((e) => e.some((x) => x.type === 'DELETED'));
    const del = w.events.find((x) => x.type === 'DELETED')!;
    expect(del.name).toBe('h0');
    expect(Number(del.rv)).toBeGreaterThan(Number(start.metadata!.resourceVersion));
    w.abort();
  });

  it('starts with synthetic ADDED events when no resourceVersion is given', async () => {
    await core.createNamespace({ body: { metadata: { name: 'w-initial' } } });
    await core.createNamespacedConfigMap({ namespace: 'w-initial', body: { metadata: { name: 'x' } } });
    const w = await watch('/api/v1/namespaces/w-initial/configmaps', {});
    await w.until((e) => e.length >= 1);
    expect(w.events[0]).toMatchObject({ type: 'ADDED', name: 'x' });
    w.abort();
  });

  it('translates label-selector transitions into ADDED/DELETED', async () => {
    const base = await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'sel', labels: { role: 'other' } } } });
    const w = await watch('/api/v1/namespaces/w/configmaps', { labelSelector: 'role=cache', resourceVersion: base.metadata!.resourceVersion });
    await core.patchNamespacedConfigMap({ name: 'sel', namespace: 'w', body: { metadata: { labels: { role: 'cache' } } } }, merge);
    await core.patchNamespacedConfigMap({ name: 'sel', namespace: 'w', body: { data: { v: '1' } } }, merge);
    await core.patchNamespacedConfigMap({ name: 'sel', namespace: 'w', body: { metadata: { labels: { role: 'web' } } } }, merge);
    await w.until((e) => e.length >= 3);
    expect(w.events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    w.abort();
  });

  it('answers a too-old resourceVersion with an ERROR event carrying 410 Expired', async () => {
    const first = await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'old-0' } } });
    for (let i = 1; i <= 80; i++) await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: `old-${i}` } } });
    const w = await watch('/api/v1/namespaces/w/configmaps', { resourceVersion: first.metadata!.resourceVersion });
    await w.closed;
    expect(w.events).toHaveLength(1);
    expect(w.events[0].type).toBe('ERROR');
    expect(w.events[0].obj).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 });
    expect(w.events[0].obj.message).toMatch(/^too old resource version: \d+ \(\d+\)$/);
  });

  it('sends BOOKMARK events when allowed', async () => {
    const w = await watch('/api/v1/namespaces/w/configmaps', { resourceVersion: server.store.currentResourceVersion(), allowWatchBookmarks: true });
    await w.until((e) => e.some((x) => x.type === 'BOOKMARK'));
    const bm = w.events.find((x) => x.type === 'BOOKMARK')!;
    expect(bm.obj).toMatchObject({ kind: 'ConfigMap', apiVersion: 'v1' });
    expect(Number(bm.rv)).toBeGreaterThan(0);
    w.abort();
  });

  it('ends the stream after timeoutSeconds', async () => {
    const w = await watch('/api/v1/namespaces/w/configmaps', { resourceVersion: server.store.currentResourceVersion(), timeoutSeconds: 1 });
    await Promise.race([w.closed, new Promise((_, rej) => setTimeout(() => rej(new Error('watch did not end within 10 s')), 10_000))]);
    expect(w.done()).toBeNull();
  });

  it('serves the legacy /watch/ path for a single object', async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'single' } } });
    await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'single-other' } } });
    const w = await watch('/api/v1/watch/namespaces/w/configmaps/single', { resourceVersion: cm.metadata!.resourceVersion });
    await core.patchNamespacedConfigMap({ name: 'single-other', namespace: 'w', body: { data: { a: '1' } } }, merge);
    await core.patchNamespacedConfigMap({ name: 'single', namespace: 'w', body: { data: { a: '1' } } }, merge);
    await w.until((e) => e.length >= 1);
    expect(w.events.map((e) => [e.type, e.name])).toEqual([['MODIFIED', 'single']]);
    w.abort();
  });
});

describe('informer', () => {
  it('receives add, update and delete and keeps its cache in sync', async () => {
    await core.createNamespace({ body: { metadata: { name: 'inf' } } });
    await core.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'pre' } } });
    const informer = makeInformer<V1ConfigMap & KubernetesObject>(server.kubeConfig, '/api/v1/namespaces/inf/configmaps', () => core.listNamespacedConfigMap({ namespace: 'inf' }));
    const log: string[] = [];
    informer.on('add', (o) => log.push(`add ${o.metadata?.name}`));
    informer.on('update', (o) => log.push(`update ${o.metadata?.name} ${JSON.stringify(o.data ?? {})}`));
    informer.on('delete', (o) => log.push(`delete ${o.metadata?.name}`));
    const waitLog = async (entry: string) => {
      for (let i = 0; i < 200 && !log.includes(entry); i++) await new Promise((r) => setTimeout(r, 25));
      expect(log).toContain(entry);
    };
    await informer.start();
    await waitLog('add pre');
    await core.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'live' } } });
    await waitLog('add live');
    await core.patchNamespacedConfigMap({ name: 'live', namespace: 'inf', body: { data: { k: 'v' } } }, merge);
    await waitLog('update live {"k":"v"}');
    await core.deleteNamespacedConfigMap({ name: 'pre', namespace: 'inf' });
    await waitLog('delete pre');
    expect(informer.list('inf').map((o) => o.metadata?.name)).toEqual(['live']);
    await informer.stop();
  });

  it('relists after the server expires its resourceVersion', async () => {
    await core.createNamespace({ body: { metadata: { name: 'inf410' } } });
    const informer = makeInformer<V1ConfigMap & KubernetesObject>(server.kubeConfig, '/api/v1/namespaces/inf410/configmaps', () => core.listNamespacedConfigMap({ namespace: 'inf410' }));
    const added: string[] = [];
    const errors: unknown[] = [];
    informer.on('add', (o) => added.push(o.metadata!.name!));
    informer.on('error', (e) => errors.push(e));
    await informer.start();
    // Compact the history past the informer's resourceVersion, then drop its connection:
    // its re-watch gets 410, so it must relist to see objects created meanwhile.
    await core.createNamespacedConfigMap({ namespace: 'inf410', body: { metadata: { name: 'during' } } });
    for (let i = 0; i < 200 && !added.includes('during'); i++) await new Promise((r) => setTimeout(r, 25));
    await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'elsewhere' } } });
    server.store.hub.compact('/configmaps', Number(server.store.currentResourceVersion()));
    const watchesBefore = server.store.hub.watcherCount();
    server.dropWatches();
    await core.createNamespacedConfigMap({ namespace: 'inf410', body: { metadata: { name: 'after' } } });
    for (let i = 0; i < 200 && !added.includes('after'); i++) await new Promise((r) => setTimeout(r, 25));
    expect(watchesBefore).toBeGreaterThan(0);
    expect(added).toEqual(['during', 'after']);
    expect(errors).toEqual([]);
    expect(informer.list('inf410').map((o) => o.metadata?.name).sort()).toEqual(['after', 'during']);
    await informer.stop();
  });
});
