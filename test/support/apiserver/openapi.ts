import { createHash } from 'node:crypto';
import type { Registry } from './registry.js';
import type { ResourceType } from './types.js';

/**
 * OpenAPI v3 discovery, as far as kubectl uses it: `kubectl apply` (validation on, the default)
 * asks /openapi/v3 for each group-version's document and looks for the PATCH operation of the
 * object's kind (by `x-kubernetes-group-version-kind`) with a `fieldValidation` query parameter.
 * Finding it, kubectl leaves validation to the server (fieldValidation=Strict), which this
 * emulator does for every type (fields.ts). The documents list the operations the emulator
 * serves, with their parameters; they carry no component schemas (`kubectl explain` has none).
 */

const WRITE_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation'];
const PATCH_PARAMS = [...WRITE_PARAMS, 'force'];
const LIST_PARAMS = ['allowWatchBookmarks', 'continue', 'fieldSelector', 'labelSelector', 'limit', 'resourceVersion', 'resourceVersionMatch', 'sendInitialEvents', 'timeoutSeconds', 'watch'];
const DELETE_PARAMS = ['dryRun', 'gracePeriodSeconds', 'orphanDependents', 'propagationPolicy'];

const gvPath = (group: string, version: string) => (group ? `apis/${group}/${version}` : `api/${version}`);

function operation(rt: ResourceType, action: string, params: string[], kind = { group: rt.group, version: rt.version, kind: rt.kind }): Record<string, unknown> {
  return {
    operationId: `${action}${rt.kind}`,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': kind,
    parameters: params.map((name) => ({ name, in: 'query', schema: { type: name === 'limit' || name.endsWith('Seconds') ? 'integer' : name === 'watch' || name === 'force' || name === 'orphanDependents' || name === 'allowWatchBookmarks' || name === 'sendInitialEvents' ? 'boolean' : 'string' }, uniqueItems: true })),
    responses: { '200': { description: 'OK' } },
  };
}

function resourcePaths(rt: ResourceType): Record<string, unknown> {
  const base = `/${gvPath(rt.group, rt.version)}${rt.namespaced ? '/namespaces/{namespace}' : ''}/${rt.plural}`;
  const paths: Record<string, unknown> = {
    [base]: { get: operation(rt, 'list', LIST_PARAMS), post: operation(rt, 'post', WRITE_PARAMS), delete: operation(rt, 'deletecollection', [...DELETE_PARAMS, ...LIST_PARAMS]) },
    [`${base}/{name}`]: { get: operation(rt, 'get', []), put: operation(rt, 'put', WRITE_PARAMS), patch: operation(rt, 'patch', PATCH_PARAMS), delete: operation(rt, 'delete', DELETE_PARAMS) },
  };
  if (rt.statusSubresource) paths[`${base}/{name}/status`] = { get: operation(rt, 'get', []), put: operation(rt, 'put', WRITE_PARAMS), patch: operation(rt, 'patch', PATCH_PARAMS) };
  if (rt.scale) {
    const scale = { group: 'autoscaling', version: 'v1', kind: 'Scale' };
    paths[`${base}/{name}/scale`] = { get: operation(rt, 'get', [], scale), put: operation(rt, 'put', WRITE_PARAMS, scale), patch: operation(rt, 'patch', PATCH_PARAMS, scale) };
  }
  return paths;
}

/** The OpenAPI v3 document of one served group-version. */
export function openapiV3Document(registry: Registry, group: string, version: string): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const rt of registry.resourcesOf(group, version).sort((a, b) => (a.plural < b.plural ? -1 : 1))) Object.assign(paths, resourcePaths(rt));
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0-hoard-emulator' }, paths };
}

/** /openapi/v3: every served group-version, each with the hash of its current document. */
export function openapiV3Root(registry: Registry): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  const gvs = [{ group: '', version: 'v1' }, ...registry.groups().flatMap((g) => g.versions.map((version) => ({ group: g.name, version })))];
  for (const { group, version } of gvs) {
    const hash = createHash('sha512').update(JSON.stringify(openapiV3Document(registry, group, version))).digest('hex').toUpperCase();
    paths[gvPath(group, version)] = { serverRelativeURL: `/openapi/v3/${gvPath(group, version)}?hash=${hash}` };
  }
  return { paths };
}
