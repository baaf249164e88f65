import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { packageRoot } from '../../lib/root.js';
import { applyManifests } from '../support/kube.js';

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
