import type { KubernetesObject } from '@kubernetes/client-node';
import { isConflict, isNotFound } from './errors.js';
import { isSubset } from './compare.js';

/** How to read/create/replace one object; kind-specific accessors live in resources.ts. */
export interface Accessor<T extends KubernetesObject> {
  read(): Promise<T>;
  create(body: T): Promise<T>;
  replace(body: T): Promise<T>;
}

export type ApplyAction = 'created' | 'updated' | 'unchanged';

/** Fields of the top level the operator owns; everything else (status, server fields) is kept. */
const OWNED_TOP_LEVEL = ['spec', 'data', 'stringData', 'type'] as const;

function overlay<T extends KubernetesObject>(existing: T, desired: T): T {
  const out = structuredCloneSafe(existing) as unknown as Record<string, unknown> & { metadata: T['metadata'] };
  out.metadata = {
    ...existing.metadata,
    labels: { ...(existing.metadata?.labels ?? {}), ...(desired.metadata?.labels ?? {}) },
    annotations: { ...(existing.metadata?.annotations ?? {}), ...(desired.metadata?.annotations ?? {}) },
    ...(desired.metadata?.ownerReferences ? { ownerReferences: desired.metadata.ownerReferences } : {}),
  };
  for (const key of OWNED_TOP_LEVEL) {
    const want = (desired as Record<string, unknown>)[key];
    if (want === undefined) continue;
    if (key === 'spec' && typeof want === 'object' && want !== null) {
      // Field by field, so server-assigned spec fields (clusterIP, volumeName …) survive.
      out.spec = { ...((out.spec as object) ?? {}), ...(want as object) };
    } else {
      out[key] = want;
    }
  }
  return out as unknown as T;
}

function structuredCloneSafe<T>(v: T): T {
  // client-node returns class instances with Date fields; JSON keeps what the API accepts.
  return JSON.parse(JSON.stringify(v)) as T;
}

function needsUpdate<T extends KubernetesObject>(existing: T, desired: T): boolean {
  const d = desired as Record<string, unknown>;
  const e = existing as Record<string, unknown>;
  if (!isSubset(desired.metadata?.labels, existing.metadata?.labels)) return true;
  if (!isSubset(desired.metadata?.annotations, existing.metadata?.annotations)) return true;
  if (desired.metadata?.ownerReferences && !isSubset(desired.metadata.ownerReferences, existing.metadata?.ownerReferences)) return true;
  return OWNED_TOP_LEVEL.some((k) => !isSubset(d[k], e[k]));
}

/**
 * Create the object, or bring an existing one to the desired state in place (PUT with the
 * current resourceVersion). A conflict means someone wrote in between: re-read and retry.
 */
export async function apply<T extends KubernetesObject>(acc: Accessor<T>, desired: T, attempts = 4): Promise<{ object: T; action: ApplyAction }> {
  for (let attempt = 1; ; attempt++) {
    let existing: T;
    try {
      existing = await acc.read();
    } catch (e) {
      if (!isNotFound(e)) throw e;
      try {
        return { object: await acc.create(desired), action: 'created' };
      } catch (err) {
        if (isConflict(err) && attempt < attempts) continue; // created concurrently: update it instead
        throw err;
      }
    }
    if (!needsUpdate(existing, desired)) return { object: existing, action: 'unchanged' };
    try {
      return { object: await acc.replace(overlay(existing, desired)), action: 'updated' };
    } catch (err) {
      if (isConflict(err) && attempt < attempts) continue;
      throw err;
    }
  }
}

/** Delete, treating "already gone" as success. */
export async function deleteIgnoringMissing(fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}
