import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from './support/apiserver/index.js';
import { applyManifests } from './support/kube.js';
import { crdManifests } from './operator/harness.js';

/**
 * Unknown fields, as kube-apiserver treats them: refused under fieldValidation=Strict (what kubectl
 * sends by default since 1.27) with "strict decoding error: unknown field ...", dropped with a
 * Warning header otherwise, and always refused by server-side apply ("field not declared in schema").
 */

let server: ApiServer;

beforeAll(async () => {
  server = await startApiServer({ namespaces: ['default'] });
  await applyManifests(server.kubeConfig, crdManifests());
});

afterAll(async () => {
  await server?.stop();
});

async function request(method: string, path: string, body: unknown, contentType = 'application/json') {
  const res = await fetch(`${server.url}${path}`, { method, headers: { 'Content-Type': contentType, Accept: 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any, warning: res.headers.get('warning') };
}

const CR = '/apis/data.hoard.dev/v1alpha1/namespaces/default';
const dataset = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'data.hoard.dev/v1alpha1',
  kind: 'Dataset',
  metadata: { name },
  spec: { mounts: [{ name: 'train', uri: 's3://bucket/train', ...extra }] },
});

describe('strict field validation', () => {
  it('refuses unknown fields of a custom resource with the real message', async () => {
    const res = await request('POST', `${CR}/datasets?fieldValidation=Strict`, { ...dataset('strict1', { colour: 'red' }), extra: 1 });
    expect(res.status).toBe(400);
    expect(res.body.reason).toBe('BadRequest');
    expect(res.body.message).toBe('Dataset in version "v1alpha1" cannot be handled as a Dataset: strict decoding error: unknown field "extra", unknown field "spec.mounts[0].colour"');
  });

  it('refuses unknown fields of built-in kinds, metadata included', async () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm1', lables: { a: 'b' } }, data: { a: 'b' }, spec: {} };
    const res = await request('POST', '/api/v1/namespaces/default/configmaps?fieldValidation=Strict', cm);
    expect(res.status).toBe(400);
    expect(res.body.message).toBe('ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "metadata.lables", unknown field "spec"');
    const sts = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 's' },
      spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i', volumeMount: [] }] } } },
    };
    const res2 = await request('POST', '/apis/apps/v1/namespaces/default/statefulsets?fieldValidation=Strict', sts);
    expect(res2.status).toBe(400);
    expect(res2.body.message).toContain('strict decoding error: unknown field "spec.template.spec.containers[0].volumeMount"');
  });

  it('drops unknown fields with a Warning header when not strict (the server default)', async () => {
    const res = await request('POST', `${CR}/datasets`, dataset('warn1', { colour: 'red' }));
    expect(res.status).toBe(201);
    expect(res.warning).toBe('299 - "unknown field \\"spec.mounts[0].colour\\""');
    expect(res.body.spec.mounts[0].colour).toBeUndefined();
    const cm = await request('POST', '/api/v1/namespaces/default/configmaps?fieldValidation=Ignore', { metadata: { name: 'cm2' }, data: { a: 'b' }, bogus: true });
    expect(cm.status).toBe(201);
    expect(cm.warning).toBeNull();
    expect(cm.body.bogus).toBeUndefined();
  });

  it('refuses a strict merge patch that adds an unknown field', async () => {
    expect((await request('POST', `${CR}/datasets`, dataset('patch1'))).status).toBe(201);
    const res = await request('PATCH', `${CR}/datasets/patch1?fieldValidation=Strict`, { spec: { colour: 'red' } }, 'application/merge-patch+json');
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('unknown field "spec.colour"');
  });

  it('refuses a bad fieldValidation value', async () => {
    const res = await request('POST', `${CR}/datasets?fieldValidation=strict`, dataset('bad1'));
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('supported values: "Ignore", "Strict", "Warn"');
  });
});

describe('server-side apply', () => {
  it('fails on a field the schema does not declare, whatever fieldValidation says', async () => {
    const res = await request('PATCH', `${CR}/datasets/ssa1?fieldManager=t&fieldValidation=Ignore`, dataset('ssa1', { colour: 'red' }), 'application/apply-patch+yaml');
    expect(res.status).toBe(500);
    expect(res.body.message).toBe('failed to create typed patch object (data.hoard.dev/v1alpha1, Kind=Dataset): .spec.mounts[name="train"].colour: field not declared in schema');
  });

  it('refuses a CRD whose schema holds a key JSONSchemaProps does not declare (the unquoted-comma bug)', async () => {
    const crd = structuredClone(crdManifests().find((c) => c.spec.names.kind === 'DataLoad')!);
    const props = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties;
    props.loadMetadata = { type: 'boolean', default: true, description: 'Refresh metadata (listings', 'sizes) before loading data.': null };
    const res = await request('PATCH', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=t`, crd, 'application/apply-patch+yaml');
    expect(res.status).toBe(500);
    expect(res.body.message).toBe(
      'failed to create typed patch object (apiextensions.k8s.io/v1, Kind=CustomResourceDefinition): .spec.versions[name="v1alpha1"].schema.openAPIV3Schema.properties.spec.properties.loadMetadata.sizes) before loading data.: field not declared in schema',
    );
    const strict = await request('PUT', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldValidation=Strict`, crd);
    expect(strict.status).toBe(400);
    expect(strict.body.message).toContain('unknown field "spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.loadMetadata.sizes) before loading data."');
  });

  it('accepts what the schema declares, including preserve-unknown-fields subtrees', async () => {
    const ds = { ...dataset('ssa2'), spec: { ...dataset('ssa2').spec, nodeAffinity: { anything: { goes: [1] } } } };
    const res = await request('PATCH', `${CR}/datasets/ssa2?fieldManager=t&fieldValidation=Strict`, ds, 'application/apply-patch+yaml');
    expect(res.status).toBe(201);
    expect(res.body.spec.nodeAffinity).toEqual({ anything: { goes: [1] } });
  });
});

describe('int-or-string values (CacheRuntime quota)', () => {
  const runtime = (quota: unknown) => ({ apiVersion: 'data.hoard.dev/v1alpha1', kind: 'CacheRuntime', metadata: { generateName: 'q-' }, spec: { tieredStore: { levels: [{ medium: 'MEM', quota }] } } });
  const F = 'spec.tieredStore.levels[0].quota';

  it('accepts an integer or a quantity string', async () => {
    for (const quota of [5, '8Gi', '1.5T']) expect((await request('POST', `${CR}/cacheruntimes?fieldValidation=Strict`, runtime(quota))).status, String(quota)).toBe(201);
  });

  it('refuses other types, and applies minimum to integers and pattern to strings', async () => {
    const cases: [unknown, string][] = [
      [true, `${F}: Invalid value: "boolean": ${F} in body must be of type integer,string: "boolean"`],
      [1.5, `${F}: Invalid value: "number": ${F} in body must be of type integer,string: "number"`],
      [0, `${F}: Invalid value: 0: ${F} in body should be greater than or equal to 1`],
      ['8 GB', `${F}: Invalid value: "8 GB": ${F} in body should match '^[0-9]+(\\.[0-9]+)?([KMGTP]i|[kKMGTP])?$'`],
    ];
    for (const [quota, message] of cases) {
      const res = await request('POST', `${CR}/cacheruntimes`, runtime(quota));
      expect(res.status, String(quota)).toBe(422);
      expect(res.body.details.causes.map((c: any) => `${c.field}: ${c.message}`)).toEqual([message]);
    }
  });
});
