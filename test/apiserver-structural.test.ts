import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from './support/apiserver/index.js';

/**
 * The emulator refuses CRDs a real kube-apiserver refuses: non-structural schemas and the OpenAPI
 * features apiextensions forbids, with the real field paths and messages.
 */

let server: ApiServer;

beforeAll(async () => {
  server = await startApiServer();
});

afterAll(async () => {
  await server?.stop();
});

let n = 0;
function crd(spec: Record<string, unknown>, versions?: unknown[]) {
  const plural = `things${++n}`;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.test.hoard.dev` },
    spec: {
      group: 'test.hoard.dev',
      scope: 'Namespaced',
      names: { plural, kind: `Thing${n}` },
      versions: versions ?? [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec } } } }],
    },
  };
}

async function create(body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** The `field: message` lines of a 422, as kubectl prints them. */
async function refused(body: unknown): Promise<string[]> {
  const res = await create(body);
  expect(res.status, JSON.stringify(res.body)).toBe(422);
  expect(res.body.reason).toBe('Invalid');
  return res.body.details.causes.map((c: any) => `${c.field}: ${c.message}`);
}

const P = 'spec.validation.openAPIV3Schema.properties[spec]';

describe('structural schemas', () => {
  it('refuses type (and anything else) inside anyOf beside x-kubernetes-int-or-string, as a real server refused the old quota', async () => {
    const quota = {
      'x-kubernetes-int-or-string': true,
      anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: '^[0-9]+$' }],
    };
    const causes = await refused(crd({ type: 'object', properties: { quota } }));
    expect(causes).toEqual([
      `${P}.properties[quota].anyOf[0].type: Forbidden: must be empty to be structural`,
      `${P}.properties[quota].anyOf[1].type: Forbidden: must be empty to be structural`,
    ]);
  });

  it('accepts the exact int-or-string anyOf with constraints beside it, and the allOf form', async () => {
    const quota = { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }], minimum: 1, pattern: '^[0-9]+(Gi)?$' };
    const allOf = { 'x-kubernetes-int-or-string': true, allOf: [{ anyOf: [{ type: 'integer' }, { type: 'string' }] }, { pattern: '^[0-9]+$' }] };
    expect((await create(crd({ type: 'object', properties: { quota, allOf } }))).status).toBe(201);
  });

  it('requires a type on every field and item, except int-or-string and preserve-unknown-fields', async () => {
    const causes = await refused(
      crd({
        type: 'object',
        properties: { a: { description: 'no type' }, b: { type: 'array', items: { minLength: 1 } }, c: { type: 'array' }, ok: { 'x-kubernetes-preserve-unknown-fields': true } },
      }),
    );
    expect(causes).toEqual([
      `${P}.properties[a].type: Required value: must not be empty for specified object fields`,
      `${P}.properties[b].items.type: Required value: must not be empty for specified array items`,
      `${P}.properties[c].items: Required value: must be specified`,
    ]);
  });

  it('forbids description, default, nullable, additionalProperties and extensions in junctors', async () => {
    const causes = await refused(
      crd({
        type: 'object',
        properties: { a: { type: 'string' } },
        oneOf: [{ description: 'd', default: 'x', nullable: true, additionalProperties: { type: 'string' }, 'x-kubernetes-validations': [{ rule: 'true' }] }],
        not: { 'x-kubernetes-preserve-unknown-fields': true, properties: { metadata: { required: ['x'] } } },
      }),
    );
    expect(causes).toEqual(
      expect.arrayContaining([
        `${P}.oneOf[0].description: Forbidden: must be empty to be structural`,
        `${P}.oneOf[0].default: Forbidden: must be undefined to be structural`,
        `${P}.oneOf[0].nullable: Forbidden: must be false to be structural`,
        `${P}.oneOf[0].additionalProperties: Forbidden: must be undefined to be structural`,
        `${P}.oneOf[0].x-kubernetes-validations: Forbidden: must be empty to be structural`,
        `${P}.not.x-kubernetes-preserve-unknown-fields: Forbidden: must be false to be structural`,
        `${P}.not.properties[metadata]: Forbidden: must not be specified in a nested context`,
      ]),
    );
  });

  it('requires fields named in a junctor to exist in the structural part', async () => {
    const causes = await refused(crd({ type: 'object', properties: { a: { type: 'string' } }, anyOf: [{ properties: { a: { minLength: 1 } } }, { properties: { b: { minLength: 1 } } }] }));
    expect(causes).toEqual([`${P}.properties[b]: Required value: because it is defined in ${P}.anyOf[1].properties[b]`]);
  });

  it('allows only name and generateName restrictions in root metadata, and no additionalProperties at the root', async () => {
    const okMeta = { type: 'object', properties: { metadata: { type: 'object', properties: { name: { type: 'string', maxLength: 20 } } } } };
    expect((await create(crd({}, [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: okMeta } }]))).status).toBe(201);
    const bad = { type: 'object', additionalProperties: { type: 'string' }, properties: { metadata: { type: 'object', properties: { labels: { type: 'object' } } } } };
    const causes = await refused(crd({}, [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: bad } }]));
    expect(causes).toEqual(
      expect.arrayContaining([
        'spec.validation.openAPIV3Schema.additionalProperties: Forbidden: must not be used at the root',
        'spec.validation.openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified',
      ]),
    );
  });

  it('refuses the OpenAPI features apiextensions forbids', async () => {
    const causes = await refused(
      crd({
        type: 'object',
        properties: {
          both: { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'string' } },
          uniq: { type: 'array', items: { type: 'string' }, uniqueItems: true },
          ref: { type: 'object', $ref: '#/definitions/x' },
          weird: { type: 'map' },
          keep: { type: 'object', 'x-kubernetes-preserve-unknown-fields': false },
          badDefault: { type: 'integer', maximum: 3, default: 5 },
          badPattern: { type: 'string', pattern: '^(?=a)' },
          list: { type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'], items: { type: 'object', properties: { name: { type: 'string' } } } },
        },
      }),
    );
    expect(causes).toEqual(
      expect.arrayContaining([
        `${P}.properties[both].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive`,
        `${P}.properties[uniq].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic`,
        `${P}.properties[ref].$ref: Forbidden: $ref is not supported`,
        `${P}.properties[weird].type: Unsupported value: "map": supported values: "array", "boolean", "integer", "number", "object", "string"`,
        `${P}.properties[keep].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined`,
        `${P}.properties[list].items.properties[name]: Required value: all map keys must be required or have a default value`,
        `${P}.properties[badPattern].pattern: Invalid value: "^(?=a)": must be a valid regular expression, but isn't: error parsing regexp: invalid or unsupported Perl syntax: \`(?=\``,
      ]),
    );
    expect(causes.some((c) => c.startsWith(`${P}.properties[badDefault].default: Invalid value: 5:`))).toBe(true);
  });

  it('reports per-version paths when the versions have different schemas', async () => {
    const good = { type: 'object', properties: { spec: { type: 'object' } } };
    const bad = { type: 'object', properties: { spec: { type: 'object', properties: { a: {} } } } };
    const causes = await refused(
      crd({}, [
        { name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: good } },
        { name: 'v2', served: true, storage: false, schema: { openAPIV3Schema: bad } },
      ]),
    );
    expect(causes).toEqual(['spec.versions[1].schema.openAPIV3Schema.properties[spec].properties[a].type: Required value: must not be empty for specified object fields']);
  });

  it('accepts CEL rules (x-kubernetes-validations) in the structural part', async () => {
    const spec = { type: 'object', properties: { a: { type: 'string' } }, 'x-kubernetes-validations': [{ rule: 'has(self.a)', message: 'a is required' }] };
    expect((await create(crd(spec))).status).toBe(201);
  });
});
