import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { packageRoot } from '../lib/root.js';
import { startApiServer, type ApiServer } from './support/apiserver/index.js';
import { nullValues, shippedObjects, type ShippedObject } from './support/manifests.js';

/**
 * Every YAML object the project ships (crds/, the chart's CRD copies, the rendered chart, examples/)
 * is what a real Kubernetes 1.27+ API server accepts: no key that parses to null, built-ins valid
 * against the official OpenAPI schemas (kubernetes-models), and all of it installed through the
 * strict API-server emulator the way `kubectl apply --server-side` sends it.
 */

const objects = shippedObjects();
const label = (s: ShippedObject) => `${s.source} (${String(s.obj.kind)} ${String(s.obj.metadata?.name)})`;
const isCrd = (s: ShippedObject) => s.obj.kind === 'CustomResourceDefinition';
const isCustom = (s: ShippedObject) => String(s.obj.apiVersion).startsWith('data.hoard.dev/');

/** kubernetes-models/<group>/<version>/<Kind> (core: kubernetes-models/v1/<Kind>). */
async function modelClass(apiVersion: string, kind: string): Promise<new (o: unknown) => { validate(): void }> {
  const mod = (await import(/* @vite-ignore */ `kubernetes-models/${apiVersion}/${kind}`)) as Record<string, new (o: unknown) => { validate(): void }>;
  const cls = mod[kind];
  if (!cls) throw new Error(`kubernetes-models has no ${apiVersion} ${kind}`);
  return cls;
}

describe('shipped manifests', () => {
  it('covers crds/, the chart (CRDs and rendered templates) and examples/', () => {
    const sources = new Set(objects.map((o) => o.source.split('/')[0]));
    expect([...sources].sort()).toEqual(['charts', 'crds', 'examples']);
    const chartKinds = new Set(objects.filter((o) => o.source.startsWith('charts/hoard/templates/')).map((o) => o.obj.kind));
    for (const kind of ['CSIDriver', 'ClusterRole', 'ClusterRoleBinding', 'DaemonSet', 'Deployment', 'Role', 'RoleBinding', 'ServiceAccount']) expect(chartKinds).toContain(kind);
  });

  it('no key parses to null (e.g. a flow mapping cut by an unquoted comma)', () => {
    const found = objects.flatMap((s) => nullValues(s.obj).map((p) => `${label(s)}: ${p}`));
    expect(found).toEqual([]);
  });

  it('built-in objects validate against the Kubernetes OpenAPI schemas (kubernetes-models)', async () => {
    const failures: string[] = [];
    for (const s of objects.filter((o) => !isCustom(o))) {
      try {
        const Model = await modelClass(s.obj.apiVersion, s.obj.kind);
        new Model(s.obj).validate();
      } catch (err) {
        failures.push(`${label(s)}: ${(err as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('the Dataset CRD has no short name that collides with a built-in (ds is DaemonSet)', () => {
    const dataset = objects.find((s) => isCrd(s) && s.obj.spec.names.kind === 'Dataset')!;
    expect(dataset.obj.spec.names.shortNames ?? []).not.toContain('ds');
    const builtin = ['ds', 'po', 'svc', 'cm', 'ns', 'no', 'pv', 'pvc', 'sa', 'ev', 'sts', 'deploy', 'cj', 'crd', 'sc', 'ep', 'rs', 'ing', 'hpa', 'pdb', 'netpol', 'csr', 'limits', 'quota', 'rc', 'pc'];
    for (const s of objects.filter(isCrd)) for (const short of s.obj.spec.names.shortNames ?? []) expect(builtin, `${label(s)} short name ${short}`).not.toContain(short);
  });

  it('the chart states the oldest supported Kubernetes (1.27) and the README says so', () => {
    const chart = parse(readFileSync(join(packageRoot(), 'charts/hoard/Chart.yaml'), 'utf8'));
    expect(chart.kubeVersion).toBe('>=1.27.0-0');
    expect(readFileSync(join(packageRoot(), 'README.md'), 'utf8')).toContain('Kubernetes 1.27 or newer');
  });

  // Group versions a 1.27 API server serves among those Hoard could reach for (all GA long before).
  const served127 = new Set(['v1', 'apps/v1', 'batch/v1', 'rbac.authorization.k8s.io/v1', 'storage.k8s.io/v1', 'coordination.k8s.io/v1', 'apiextensions.k8s.io/v1', 'events.k8s.io/v1', 'policy/v1', 'networking.k8s.io/v1', 'admissionregistration.k8s.io/v1', 'admission.k8s.io/v1', 'data.hoard.dev/v1alpha1']);

  it('the chart and examples use only APIs served by Kubernetes 1.27', () => {
    for (const s of objects) expect(served127, label(s)).toContain(s.obj.apiVersion);
  });

  it('the operator, CSI plugin and CLI use only APIs served by Kubernetes 1.27', () => {
    const root = packageRoot();
    const sources = ['operator', 'csi', 'lib', 'bin', 'worker'].flatMap((d) => (readdirSync(join(root, d), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => join(root, d, f)));
    const used = new Set<string>();
    // client-node API classes name their group version: AppsV1Api -> apps/v1, CoreV1Api -> v1.
    const clientGroups: Record<string, string> = { Core: '', Apps: 'apps', Batch: 'batch', Coordination: 'coordination.k8s.io', Storage: 'storage.k8s.io', Events: 'events.k8s.io', Policy: 'policy', Networking: 'networking.k8s.io', RbacAuthorization: 'rbac.authorization.k8s.io', Apiextensions: 'apiextensions.k8s.io', Admissionregistration: 'admissionregistration.k8s.io', Autoscaling: 'autoscaling', Discovery: 'discovery.k8s.io' };
    for (const file of sources) {
      const text = readFileSync(file, 'utf8');
      // Quoted literals only: `apiVersion: "${...}"` in an error message names no API.
      for (const m of text.matchAll(/apiVersion: *['"]([^'"$]+)['"]/g)) used.add(m[1]);
      for (const m of text.matchAll(/_API_VERSION = *['"]([^'"]+)['"]/g)) used.add(m[1]);
      for (const m of text.matchAll(/\b([A-Z][A-Za-z]*?)(V\d+(?:alpha\d+|beta\d+)?)Api\b/g)) {
        if (!(m[1] in clientGroups)) throw new Error(`${file}: unknown client API class ${m[0]}: add its group to this test`);
        const group = clientGroups[m[1]];
        used.add(group ? `${group}/${m[2].toLowerCase()}` : m[2].toLowerCase());
      }
    }
    expect(used.size).toBeGreaterThan(3);
    for (const gv of used) expect(served127, gv).toContain(gv);
  });
});

describe('shipped manifests on the strict API-server emulator', () => {
  let server: ApiServer;

  beforeAll(async () => {
    server = await startApiServer({ namespaces: ['default', 'hoard-system'] });
  });

  afterAll(async () => {
    await server?.stop();
  });

  /** `kubectl apply --server-side --field-manager=kubectl` (field validation Strict, kubectl's default). */
  async function apply(s: ShippedObject): Promise<{ status: number; body: any }> {
    const { apiVersion, kind, metadata } = s.obj;
    const base = String(apiVersion).includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const discovery = (await (await fetch(`${server.url}${base}`)).json()) as { resources: { name: string; kind: string; namespaced: boolean }[] };
    const resource = discovery.resources.find((r) => r.kind === kind && !r.name.includes('/'));
    if (!resource) return { status: 404, body: { message: `no ${kind} served in ${apiVersion}` } };
    const ns = resource.namespaced ? `/namespaces/${metadata.namespace ?? 'default'}` : '';
    const res = await fetch(`${server.url}${base}${ns}/${resource.name}/${metadata.name}?fieldManager=kubectl&fieldValidation=Strict`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/apply-patch+yaml', Accept: 'application/json' },
      body: JSON.stringify(s.obj),
    });
    return { status: res.status, body: await res.json() };
  }

  it('installs every CRD, then every chart object and example, with server-side apply', async () => {
    const failures: string[] = [];
    const ordered = [...objects.filter(isCrd), ...objects.filter((o) => !isCrd(o))];
    for (const s of ordered) {
      const res = await apply(s);
      if (res.status >= 300) failures.push(`${label(s)}: HTTP ${res.status}: ${String(res.body?.message)}`);
    }
    expect(failures).toEqual([]);
  });
});
