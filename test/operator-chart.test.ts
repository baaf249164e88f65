import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { packageRoot } from '../lib/root.js';
import { crdManifests, ensureNamespace } from './operator/harness.js';
import { startApiServer } from './support/apiserver/index.js';
import { renderChart } from './support/chart.js';
import { applyManifests } from './support/kube.js';

const root = packageRoot();

describe('charts/hoard', () => {
  it('ships the same CRDs as crds/', () => {
    const files = readdirSync(join(root, 'crds')).filter((f) => f.endsWith('.yaml')).sort();
    expect(readdirSync(join(root, 'charts/hoard/crds')).sort()).toEqual(files);
    for (const f of files) expect(readFileSync(join(root, 'charts/hoard/crds', f), 'utf8')).toBe(readFileSync(join(root, 'crds', f), 'utf8'));
  });

  it('CRDs: group, category, status subresource, scale on CacheRuntime', () => {
    const crds = crdManifests();
    expect(crds.map((c) => c.spec.names.kind).sort()).toEqual(['CacheRuntime', 'DataLoad', 'Dataset']);
    for (const c of crds) {
      expect(c.spec.group).toBe('data.hoard.dev');
      expect(c.spec.names.categories).toContain('hoard');
      expect(c.spec.versions[0].subresources.status).toEqual({});
    }
    const rt = crds.find((c) => c.spec.names.kind === 'CacheRuntime')!;
    expect(rt.spec.versions[0].subresources.scale).toEqual({ specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' });
  });

  it('runs two operator replicas and a CSIDriver without attach', () => {
    const values = parse(readFileSync(join(root, 'charts/hoard/values.yaml'), 'utf8'));
    expect(values.operator.replicas).toBe(2);
    const csi = readFileSync(join(root, 'charts/hoard/templates/csi.yaml'), 'utf8');
    expect(csi).toContain('attachRequired: false');
    expect(csi).toContain('podInfoOnMount: true');
    expect(csi).toContain('mountPropagation: Bidirectional');
    expect(parse(readFileSync(join(root, 'charts/hoard/Chart.yaml'), 'utf8')).name).toBe('hoard');
  });

  it('tells the operator the kubelet directory the CSI node plugin mounts, so workers name their RAM-disk tier by a path the plugin sees', () => {
    const csi = readFileSync(join(root, 'charts/hoard/templates/csi.yaml'), 'utf8');
    const operator = readFileSync(join(root, 'charts/hoard/templates/operator.yaml'), 'utf8');
    expect(csi).toContain('{name: kubelet-dir, mountPath: {{ .Values.csi.kubeletDir }}, mountPropagation: Bidirectional}');
    expect(operator).toContain('- --kubelet-dir={{ .Values.csi.kubeletDir }}');
  });
});

/** One rendered template of the chart, parsed as the YAML helm emits. */
function renderTemplate(file: string, release = 'hoard-system'): Record<string, any>[] {
  const rendered = renderChart(join(root, 'charts/hoard'), { namespace: release }).find((m) => m.source === `templates/${file}`);
  if (!rendered) throw new Error(`no template ${file}`);
  return parseAllDocuments(rendered.text).map((d) => d.toJSON() as Record<string, any>).filter(Boolean);
}

describe('charts/hoard CSI controller', () => {
  const docs = renderTemplate('csi-controller.yaml');
  const kind = (k: string) => docs.find((d) => d.kind === k)!;

  it('runs hoard csi --controller beside a leader-elected csi-provisioner that passes PVC metadata', () => {
    const deploy = kind('Deployment');
    expect(deploy.spec.replicas).toBe(2);
    const [sidecar, controller] = deploy.spec.template.spec.containers;
    // v5 supports Kubernetes >= 1.20, so every cluster from the oldest we support (1.27).
    expect(sidecar.image).toMatch(/^registry\.k8s\.io\/sig-storage\/csi-provisioner:v5\.\d+\.\d+$/);
    expect(sidecar.args).toEqual(expect.arrayContaining(['--csi-address=/csi/csi.sock', '--leader-election', '--extra-create-metadata']));
    expect(controller.command).toEqual(['hoard', 'csi']);
    expect(controller.args).toEqual(expect.arrayContaining(['--controller', '--endpoint=unix:///csi/csi.sock', '--namespace=$(POD_NAMESPACE)']));
    expect(controller.livenessProbe.httpGet.port).toBe('healthz');
    expect(deploy.spec.template.spec.serviceAccountName).toBe('hoard-csi-controller');
  });

  it('grants the sidecar its standard rules and the controller only what it reads and records', () => {
    const rules = kind('ClusterRole').rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    const can = (group: string, resource: string, verb: string) => rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
    for (const v of ['get', 'list', 'watch', 'create', 'delete']) expect(can('', 'persistentvolumes', v), v).toBe(true);
    for (const v of ['get', 'list', 'watch', 'update']) expect(can('', 'persistentvolumeclaims', v), v).toBe(true);
    for (const v of ['get', 'list', 'watch']) expect(can('storage.k8s.io', 'storageclasses', v), v).toBe(true);
    expect(can('', 'events', 'create')).toBe(true);
    expect(can('data.hoard.dev', 'datasets', 'get')).toBe(true);
    expect(can('data.hoard.dev', 'datasets', 'update')).toBe(false);
    expect(can('', 'secrets', 'get')).toBe(false); // node-stage Secrets are read by the kubelet, not here
    const role = kind('Role');
    expect(role.metadata.namespace).toBe('hoard-system');
    expect(role.rules).toEqual(expect.arrayContaining([
      expect.objectContaining({ apiGroups: ['coordination.k8s.io'], resources: ['leases'] }),
      expect.objectContaining({ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'create', 'delete'] }),
    ]));
    expect(kind('ClusterRoleBinding').subjects[0]).toEqual({ kind: 'ServiceAccount', name: 'hoard-csi-controller', namespace: 'hoard-system' });
  });

  it('is accepted by the (strict) API server', async () => {
    const cluster = await startApiServer({ kubelet: false });
    try {
      await ensureNamespace(cluster.kubeConfig, 'hoard-system');
      const applied = await applyManifests(cluster.kubeConfig, docs, 'hoard-system');
      expect(applied.map((o) => o.kind)).toEqual(['Deployment', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
    } finally {
      await cluster.stop();
    }
  });

  it('lets the operator manage shared Datasets\' StorageClasses and find their PVs', () => {
    const rbac = readFileSync(join(root, 'charts/hoard/templates/rbac.yaml'), 'utf8');
    expect(rbac).toContain('resources: [storageclasses]\n    verbs: [get, create, delete]');
    expect(rbac).toContain('resources: [persistentvolumes]\n    verbs: [get, list, create, update, delete]');
  });
});
