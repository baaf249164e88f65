import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../lib/root.js';
import { installCrds } from './operator/harness.js';
import { startApiServer, type ApiServer } from './support/apiserver/index.js';
import { rawRequest } from './support/kube.js';

/**
 * kubectl with its default flags against the emulator: `kubectl apply` validates (the default),
 * which needs /openapi/v3 to learn that the server validates fields itself; it then sends
 * fieldValidation=Strict and the server refuses unknown fields.
 */

const run = promisify(execFile);
const kubectl = await run('kubectl', ['version', '--client']).then(
  () => true,
  () => false,
);
// CI machines have kubectl (>= 1.27, for /openapi/v3): there a missing binary is a failure, not a skip.
if (!kubectl && process.env.CI === 'true') throw new Error('apiserver-kubectl: CI=true but no kubectl (>= 1.27) on PATH; install one (Debian\'s kubernetes-client is too old)');
if (!kubectl) console.warn('apiserver-kubectl: no kubectl binary on this machine; these tests need one');

let api: ApiServer;
let dir: string;
const k = (...args: string[]) => run('kubectl', ['--kubeconfig', api.kubeconfigPath, ...args], { encoding: 'utf8', timeout: 60_000 });

beforeAll(async () => {
  api = await startApiServer();
  await installCrds(api.kubeConfig);
  dir = mkdtempSync(join(tmpdir(), 'hoard-kubectl-'));
}, 60_000);
afterAll(async () => {
  await api?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!kubectl)('kubectl against the API-server emulator, default flags', () => {
  it('kubectl apply -f examples/ creates every example, and a second apply changes nothing', async () => {
    const first = await k('apply', '-f', join(packageRoot(), 'examples'));
    expect(first.stdout.split('\n').filter(Boolean).sort()).toEqual(['cacheruntime.data.hoard.dev/e2e created', 'dataload.data.hoard.dev/e2e-warmup created', 'dataset.data.hoard.dev/e2e created', 'pod/e2e-reader created']);
    const generation = async () => JSON.parse((await k('get', 'dataset', 'e2e', '-o', 'json')).stdout).metadata.generation;
    expect(await generation()).toBe(1);
    // The Dataset says "configured", as on a real server: its mounts list holds schema defaults,
    // so kubectl's merge patch resends the list; the server finds nothing changed.
    const again = await k('apply', '-f', join(packageRoot(), 'examples'));
    expect(again.stdout.split('\n').filter(Boolean).sort()).toEqual(['cacheruntime.data.hoard.dev/e2e unchanged', 'dataload.data.hoard.dev/e2e-warmup unchanged', 'dataset.data.hoard.dev/e2e configured', 'pod/e2e-reader unchanged']);
    expect(await generation()).toBe(1);
    expect((await k('get', 'datasets', '-o', 'name')).stdout.trim()).toBe('dataset.data.hoard.dev/e2e');
  });

  it('still validates: an unknown field is refused by the server under fieldValidation=Strict', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'apiVersion: data.hoard.dev/v1alpha1\nkind: Dataset\nmetadata: {name: bad}\nspec:\n  mounts: [{name: a, uri: "s3://b/a"}]\n  mountz: []\n');
    const err = await k('apply', '-f', file).then(() => undefined, (e: { stderr: string }) => e.stderr);
    expect(err).toMatch(/strict decoding error: unknown field "spec\.mountz"/);
  });

  it('serves OpenAPI v3 discovery for the built-in and CRD groups, each PATCH with its kind and fieldValidation', async () => {
    const root = await rawRequest(api.kubeConfig, 'GET', '/openapi/v3');
    expect(Object.keys(root.body.paths)).toEqual(expect.arrayContaining(['api/v1', 'apis/apps/v1', 'apis/data.hoard.dev/v1alpha1']));
    const doc = await rawRequest(api.kubeConfig, 'GET', root.body.paths['apis/data.hoard.dev/v1alpha1'].serverRelativeURL);
    const patch = doc.body.paths['/apis/data.hoard.dev/v1alpha1/namespaces/{namespace}/datasets/{name}'].patch;
    expect(patch['x-kubernetes-group-version-kind']).toEqual({ group: 'data.hoard.dev', version: 'v1alpha1', kind: 'Dataset' });
    expect(patch.parameters.map((p: { name: string }) => p.name)).toContain('fieldValidation');
    expect((await rawRequest(api.kubeConfig, 'GET', '/openapi/v3/apis/nosuch.example.com/v1')).status).toBe(404);
  });
});
