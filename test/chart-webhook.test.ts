import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { packageRoot } from '../lib/root.js';
import { INJECT_LABEL } from '../operator/webhook/index.js';
import { MUTATE_PODS_PATH } from '../operator/webhook/server.js';
import { parseAllDocuments } from 'yaml';
import { renderChart } from './support/chart.js';

const NS = 'hoard-system';
const chartDir = join(packageRoot(), 'charts/hoard');
const render = (values?: Record<string, unknown>) =>
  renderChart(chartDir, { namespace: NS, values }).flatMap((m) => parseAllDocuments(m.text).map((d) => d.toJSON() as Record<string, any>).filter(Boolean));
const objects = render();
const find = (kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata?.name === name);
  if (!o) throw new Error(`the chart renders no ${kind} ${name}`);
  return o;
};

/** Whether the RBAC rules bound to a ServiceAccount allow a verb on a resource (by name). */
function allowed(sa: string, group: string, resource: string, verb: string, name?: string): boolean {
  const roles = objects
    .filter((b) => (b.kind === 'ClusterRoleBinding' || b.kind === 'RoleBinding') && b.subjects?.some((s: any) => s.kind === 'ServiceAccount' && s.name === sa))
    .map((b) => objects.find((r) => r.kind === b.roleRef.kind && r.metadata.name === b.roleRef.name));
  return roles.some((r) =>
    (r?.rules ?? []).some(
      (rule: any) =>
        rule.apiGroups.includes(group) && rule.resources.includes(resource) && rule.verbs.includes(verb) && (!rule.resourceNames || (name !== undefined && rule.resourceNames.includes(name))),
    ),
  );
}

describe('charts/hoard rendered', () => {
  it('installs the pod webhook: opt-in namespaces, Ignore on failure, no side effects, a short timeout, reinvoked after other webhooks', () => {
    const config = find('MutatingWebhookConfiguration', 'hoard-webhook');
    expect(config.webhooks).toHaveLength(1);
    const w = config.webhooks[0];
    expect(w).toMatchObject({
      name: 'pods.data.hoard.dev',
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      failurePolicy: 'Ignore',
      reinvocationPolicy: 'IfNeeded',
      clientConfig: { service: { name: 'hoard-webhook', namespace: NS, path: MUTATE_PODS_PATH, port: 443 } },
      rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
      namespaceSelector: { matchLabels: { [INJECT_LABEL]: 'enabled' } },
      objectSelector: { matchExpressions: [{ key: INJECT_LABEL, operator: 'NotIn', values: ['disabled'] }] },
    });
    expect(w.timeoutSeconds).toBeLessThanOrEqual(10);
    expect(w.clientConfig.caBundle).toBeUndefined(); // the operator sets it; helm's 3-way merge keeps it across upgrades
  });

  it('wires the operator to the webhook Service, Secret and configuration names, with an HTTPS readiness probe', () => {
    const deploy = find('Deployment', 'hoard-operator');
    const c = deploy.spec.template.spec.containers.find((x: any) => x.name === 'operator');
    const svc = find('Service', 'hoard-webhook');
    expect(svc.metadata.namespace).toBe(NS);
    expect(Object.entries(svc.spec.selector).every(([k, v]) => deploy.spec.template.metadata.labels[k] === v)).toBe(true);
    const port = c.ports.find((p: any) => p.name === svc.spec.ports[0].targetPort);
    expect(port).toBeDefined();
    expect(svc.spec.ports[0].port).toBe(443);
    expect(c.args).toEqual(expect.arrayContaining([`--webhook-port=${port.containerPort}`, '--webhook-service=hoard-webhook', '--webhook-config=hoard-webhook', '--webhook-secret=hoard-webhook-tls', '--webhook-namespace=$(POD_NAMESPACE)']));
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: port.name, scheme: 'HTTPS' });
  });

  it('grants the operator exactly what the webhook does: its configuration by name, StorageClasses, and the reads behind a review', () => {
    expect(allowed('hoard-operator', 'admissionregistration.k8s.io', 'mutatingwebhookconfigurations', 'get', 'hoard-webhook')).toBe(true);
    expect(allowed('hoard-operator', 'admissionregistration.k8s.io', 'mutatingwebhookconfigurations', 'patch', 'hoard-webhook')).toBe(true);
    expect(allowed('hoard-operator', 'admissionregistration.k8s.io', 'mutatingwebhookconfigurations', 'patch', 'someone-elses')).toBe(false);
    expect(allowed('hoard-operator', 'admissionregistration.k8s.io', 'mutatingwebhookconfigurations', 'list')).toBe(false);
    for (const verb of ['get', 'create', 'update', 'delete']) expect(allowed('hoard-operator', '', 'secrets', verb)).toBe(true);
    expect(allowed('hoard-operator', 'storage.k8s.io', 'storageclasses', 'get')).toBe(true);
    expect(allowed('hoard-operator', '', 'persistentvolumeclaims', 'get')).toBe(true);
    expect(allowed('hoard-operator', '', 'persistentvolumes', 'get')).toBe(true);
    expect(allowed('hoard-operator', 'data.hoard.dev', 'datasets', 'get')).toBe(true);
    expect(allowed('hoard-operator', '', 'events', 'create')).toBe(true);
  });

  it('webhook.enabled=false leaves out the Service, the configuration, its RBAC and the operator flags', () => {
    const off = render({ webhook: { enabled: false } });
    expect(off.filter((o) => /webhook/.test(o.metadata.name))).toEqual([]);
    const c = off.find((o) => o.kind === 'Deployment' && o.metadata.name === 'hoard-operator')!.spec.template.spec.containers[0];
    expect(c.args.filter((a: string) => a.startsWith('--webhook'))).toEqual([]);
    expect(c.readinessProbe).toBeUndefined();
  });
});
