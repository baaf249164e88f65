import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiException, BatchV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type V1OwnerReference } from '@kubernetes/client-node';
import { startApiServer, type ApiServer } from './support/apiserver/index.js';

/** Deletion semantics: finalizers, deletionTimestamp, ownerReference garbage collection, namespaces. */

let server: ApiServer;
let core: CoreV1Api;
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

beforeAll(async () => {
  server = await startApiServer();
  core = server.kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'life' } } });
});

afterAll(async () => {
  await server?.stop();
});

async function exists(name: string, ns = 'life'): Promise<boolean> {
  try {
    await core.readNamespacedConfigMap({ name, namespace: ns });
    return true;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return false;
    throw err;
  }
}

/** Poll until `cond` holds (garbage collection is asynchronous, as on a real cluster). */
async function eventually(cond: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`not within ${ms} ms: ${what}`);
}

async function owner(name: string): Promise<V1OwnerReference> {
  const cm = await core.createNamespacedConfigMap({ namespace: 'life', body: { metadata: { name } } });
  return { apiVersion: 'v1', kind: 'ConfigMap', name, uid: cm.metadata!.uid!, controller: true, blockOwnerDeletion: true };
}

async function dependent(name: string, refs: V1OwnerReference[]): Promise<void> {
  await core.createNamespacedConfigMap({ namespace: 'life', body: { metadata: { name, ownerReferences: refs } } });
}

describe('finalizers', () => {
  it('keeps an object with finalizers, sets deletionTimestamp, and removes it when they are cleared', async () => {
    await core.createNamespacedConfigMap({ namespace: 'life', body: { metadata: { name: 'fin', finalizers: ['data.hoard.dev/in-use'] } } });
    const deleting = await core.deleteNamespacedConfigMap({ name: 'fin', namespace: 'life' });
    expect(deleting).toBeDefined();
    const obj = await core.readNamespacedConfigMap({ name: 'fin', namespace: 'life' });
    expect(obj.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect(obj.metadata?.finalizers).toEqual(['data.hoard.dev/in-use']);
    // Deleting again is harmless; adding a new finalizer while deleting is refused.
    await core.deleteNamespacedConfigMap({ name: 'fin', namespace: 'life' });
    let refused: ApiException<string> | undefined;
    try {
      await core.patchNamespacedConfigMap({ name: 'fin', namespace: 'life', body: { metadata: { finalizers: ['data.hoard.dev/in-use', 'other/x'] } } }, merge);
    } catch (err) {
      refused = err as ApiException<string>;
    }
    expect(refused?.code).toBe(422);
    expect(JSON.parse(refused!.body).details.causes[0].field).toBe('metadata.finalizers');
    // Other updates still work while the object is terminating.
    await core.patchNamespacedConfigMap({ name: 'fin', namespace: 'life', body: { data: { still: 'here' } } }, merge);
    await core.patchNamespacedConfigMap({ name: 'fin', namespace: 'life', body: { metadata: { finalizers: null } } }, merge);
    expect(await exists('fin')).toBe(false);
  });

  it('honours delete preconditions', async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: 'life', body: { metadata: { name: 'pre' } } });
    let code = 0;
    try {
      await core.deleteNamespacedConfigMap({ name: 'pre', namespace: 'life', body: { preconditions: { uid: 'not-the-uid' } } });
    } catch (err) {
      code = (err as ApiException<string>).code;
    }
    expect(code).toBe(409);
    await core.deleteNamespacedConfigMap({ name: 'pre', namespace: 'life', body: { preconditions: { uid: cm.metadata!.uid } } });
    expect(await exists('pre')).toBe(false);
  });
});

describe('ownerReference garbage collection', () => {
  it('background: deletes dependents after the owner is gone', async () => {
    const ref = await owner('bg-owner');
    await dependent('bg-dep1', [ref]);
    await dependent('bg-dep2', [ref]);
    await core.deleteNamespacedConfigMap({ name: 'bg-owner', namespace: 'life', propagationPolicy: 'Background' });
    expect(await exists('bg-owner')).toBe(false);
    await eventually(async () => !(await exists('bg-dep1')) && !(await exists('bg-dep2')), 'dependents collected');
  });

  it('foreground: the owner waits (deletionTimestamp + foregroundDeletion) until dependents are gone', async () => {
    const ref = await owner('fg-owner');
    await core.createNamespacedConfigMap({ namespace: 'life', body: { metadata: { name: 'fg-dep', ownerReferences: [ref], finalizers: ['test/hold'] } } });
    await core.deleteNamespacedConfigMap({ name: 'fg-owner', namespace: 'life', propagationPolicy: 'Foreground' });
    const waiting = await core.readNamespacedConfigMap({ name: 'fg-owner', namespace: 'life' });
    expect(waiting.metadata?.finalizers).toContain('foregroundDeletion');
    expect(waiting.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    await eventually(async () => !!(await core.readNamespacedConfigMap({ name: 'fg-dep', namespace: 'life' })).metadata?.deletionTimestamp, 'dependent deleting');
    expect(await exists('fg-owner')).toBe(true);
    await core.patchNamespacedConfigMap({ name: 'fg-dep', namespace: 'life', body: { metadata: { finalizers: null } } }, merge);
    await eventually(async () => !(await exists('fg-owner')), 'owner removed after its dependents');
  });

  it('orphan: dependents stay and lose the ownerReference', async () => {
    const ref = await owner('or-owner');
    await dependent('or-dep', [ref]);
    await core.deleteNamespacedConfigMap({ name: 'or-owner', namespace: 'life', propagationPolicy: 'Orphan' });
    await new Promise((r) => setTimeout(r, 100));
    const dep = await core.readNamespacedConfigMap({ name: 'or-dep', namespace: 'life' });
    expect(dep.metadata?.ownerReferences).toBeUndefined();
  });

  it('keeps a dependent that still has a live owner, dropping only the dead reference', async () => {
    const a = await owner('multi-a');
    const b = await owner('multi-b');
    await dependent('multi-dep', [a, { ...b, controller: false }]);
    await core.deleteNamespacedConfigMap({ name: 'multi-a', namespace: 'life' });
    await eventually(async () => (await core.readNamespacedConfigMap({ name: 'multi-dep', namespace: 'life' })).metadata?.ownerReferences?.length === 1, 'reference dropped');
    expect((await core.readNamespacedConfigMap({ name: 'multi-dep', namespace: 'life' })).metadata?.ownerReferences?.[0].name).toBe('multi-b');
  });

  it('collects a dependent whose owner uid never existed (like the real GC)', async () => {
    await dependent('dangling', [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'ghost', uid: '00000000-0000-0000-0000-000000000000' }]);
    await eventually(async () => !(await exists('dangling')), 'dangling dependent collected');
  });

  it('batch/v1 Jobs orphan their pods unless a propagationPolicy is given (real default)', async () => {
    const batch = server.kubeConfig.makeApiClient(BatchV1Api);
    const mkJob = async (name: string) => {
      const job = await batch.createNamespacedJob({ namespace: 'life', body: { metadata: { name }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x' }] } } } } });
      await core.createNamespacedPod({
        namespace: 'life',
        body: { metadata: { name: `${name}-pod`, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name, uid: job.metadata!.uid!, controller: true }] }, spec: { containers: [{ name: 'c', image: 'x' }] } },
      });
    };
    const podExists = async (name: string) => (await core.listNamespacedPod({ namespace: 'life', fieldSelector: `metadata.name=${name}` })).items.length === 1;
    await mkJob('job-default');
    await batch.deleteNamespacedJob({ name: 'job-default', namespace: 'life' });
    await new Promise((r) => setTimeout(r, 100));
    expect(await podExists('job-default-pod')).toBe(true);
    await mkJob('job-bg');
    await batch.deleteNamespacedJob({ name: 'job-bg', namespace: 'life', propagationPolicy: 'Background' });
    await eventually(async () => !(await podExists('job-bg-pod')), 'job pod collected');
  });
});

describe('namespaces', () => {
  it('deleting a namespace terminates it, deletes its content, then removes it', async () => {
    await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'a' } } });
    await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'held', finalizers: ['test/hold'] } } });
    await core.deleteNamespace({ name: 'doomed' });
    const ns = await core.readNamespace({ name: 'doomed' });
    expect(ns.status?.phase).toBe('Terminating');
    let forbidden = 0;
    try {
      await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'late' } } });
    } catch (err) {
      forbidden = (err as ApiException<string>).code;
    }
    expect(forbidden).toBe(403);
    await eventually(async () => !(await exists('a', 'doomed')), 'content deleted');
    expect(await exists('held', 'doomed')).toBe(true);
    await core.patchNamespacedConfigMap({ name: 'held', namespace: 'doomed', body: { metadata: { finalizers: null } } }, merge);
    await eventually(async () => !(await core.listNamespace()).items.some((n) => n.metadata?.name === 'doomed'), 'namespace removed');
  });
});
