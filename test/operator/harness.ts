import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { packageRoot } from '../../lib/root.js';
import { createLogger } from '../../lib/log.js';
import { startOperator, type RunningOperator } from '../../operator/manager.js';
import { applyManifests, testClusterDomain, testImage } from '../support/kube.js';

export { testClusterDomain, testImage } from '../support/kube.js';

/** The CRDs from crds/, as the chart installs them. */
export function crdManifests(): Record<string, any>[] {
  const dir = join(packageRoot(), 'crds');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJSON() as Record<string, any>));
}

export async function installCrds(kc: KubeConfig): Promise<void> {
  await applyManifests(kc, crdManifests());
  // A real API server needs a moment before new CRDs are served.
  const custom = kc.makeApiClient(CustomObjectsApi);
  await waitUntil(async () => {
    await custom.listClusterCustomObject({ group: 'data.hoard.dev', version: 'v1alpha1', plural: 'dataloads' });
    return true;
  }, 30_000, 'CRDs served');
}

export async function ensureNamespace(kc: KubeConfig, name: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } }).catch((e: { code?: number }) => {
    if (e.code !== 409) throw e;
  });
}

/** Polls until `fn` returns a truthy value (errors count as "not yet"); bounded by `timeoutMs`. */
export async function waitUntil<T>(fn: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A `.a.b[0]` printer-column jsonPath evaluated on an object. */
export function jsonPath(obj: unknown, path: string): unknown {
  return path
    .replace(/^\./, '')
    .split('.')
    .reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj);
}

export const GVR = (plural: string, namespace: string) => ({ group: 'data.hoard.dev', version: 'v1alpha1', plural, namespace });

/**
 * Read-modify-write of a Hoard object's spec, retried on 409 Conflict as client-go's RetryOnConflict
 * does: the operator writes the same object (finalizers, status), so a test's PUT can lose the race.
 */
export async function updateSpec(custom: CustomObjectsApi, plural: string, namespace: string, name: string, mutate: (spec: any) => any): Promise<any> {
  for (let attempt = 1; ; attempt++) {
    const obj = (await custom.getNamespacedCustomObject({ ...GVR(plural, namespace), name })) as any;
    try {
      return await custom.replaceNamespacedCustomObject({ ...GVR(plural, namespace), name, body: { ...obj, spec: mutate(structuredClone(obj.spec)) } });
    } catch (e) {
      if ((e as { code?: number }).code !== 409 || attempt >= 10) throw e;
    }
  }
}

/** A fresh namespace for one test file, so runs never share objects (on a real cluster too). */
export async function testNamespace(kc: KubeConfig, prefix: string): Promise<string> {
  const ns = `${prefix}-${randomBytes(3).toString('hex')}`;
  await ensureNamespace(kc, ns);
  return ns;
}

/**
 * Deletes everything a test made in `ns`, even after a failed run: Hoard objects first (their
 * finalizers clean up PV/PVC and workers while an operator runs), then, as a last resort, their
 * finalizers are removed, Hoard PVs of the namespace deleted, and the namespace itself.
 */
export async function deleteTestNamespace(kc: KubeConfig, ns: string, graceMs = 15_000): Promise<void> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const plurals = ['dataloads', 'datasets', 'cacheruntimes'];
  const ignore = () => undefined;
  for (const plural of plurals) {
    const list = (await custom.listNamespacedCustomObject({ ...GVR(plural, ns) }).catch(ignore)) as { items?: { metadata: { name: string } }[] } | undefined;
    for (const o of list?.items ?? []) await custom.deleteNamespacedCustomObject({ ...GVR(plural, ns), name: o.metadata.name }).catch(ignore);
  }
  const left = async () => {
    let n = 0;
    for (const plural of plurals) n += (((await custom.listNamespacedCustomObject({ ...GVR(plural, ns) }).catch(ignore)) as { items?: unknown[] } | undefined)?.items ?? []).length;
    return n;
  };
  await waitUntil(async () => (await left()) === 0, graceMs, `Hoard objects in ${ns} deleted`).catch(async () => {
    for (const plural of plurals) {
      const list = (await custom.listNamespacedCustomObject({ ...GVR(plural, ns) }).catch(ignore)) as { items?: { metadata: { name: string } }[] } | undefined;
      for (const o of list?.items ?? []) {
        await custom.patchNamespacedCustomObject({ ...GVR(plural, ns), name: o.metadata.name, body: [{ op: 'replace', path: '/metadata/finalizers', value: [] }] }).catch(ignore);
      }
    }
  });
  const pvs = await core.listPersistentVolume({ labelSelector: `data.hoard.dev/namespace=${ns}` }).catch(ignore);
  for (const pv of pvs?.items ?? []) await core.deletePersistentVolume({ name: pv.metadata!.name! }).catch(ignore);
  await core.deleteNamespace({ name: ns }).catch(ignore);
}

/**
 * The operator a suite file runs in-process: scoped to the file's namespace, stats every 300 ms
 * from the worker pods the test tracks (trackWorkerEndpoints), no leader election.
 */
export function startSuiteOperator(kc: KubeConfig, namespace: string, endpoints: { overrides: Map<string, string[]> }): RunningOperator {
  return startOperator({
    kubeConfig: kc,
    ctx: { image: testImage(), clusterDomain: testClusterDomain() },
    namespaces: [namespace],
    endpointOverrides: endpoints.overrides,
    statsIntervalMs: 300,
    ufsIntervalMs: 300,
    leaderElection: false,
    log: createLogger('operator', 'warn'),
  });
}
