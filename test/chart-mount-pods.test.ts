// The chart runs the CSI node plugin in pod mode, with exactly the API access that mode uses,
// rendered as `helm template` would (test/support/chart.ts) and checked against the CLI's flags.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { csiCommand } from '../bin/commands/csi.js';
import { packageRoot } from '../lib/root.js';
import { renderChart } from './support/chart.js';
import { readFileSync } from 'node:fs';
import { parse, parseAllDocuments } from 'yaml';

function objects(values?: Record<string, unknown>): Record<string, any>[] {
  return renderChart(join(packageRoot(), 'charts/hoard'), { namespace: 'hoard-system', values }).flatMap((m) =>
    parseAllDocuments(m.text).map((d) => d.toJS() as Record<string, any>).filter(Boolean),
  );
}
const find = (objs: Record<string, any>[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata?.name === name)!;

describe('chart: CSI node plugin in pod mode', () => {
  it('passes mode, namespace, image, mount root under the kubelet dir and priority class; the plugin sees the kubelet dir Bidirectional', () => {
    const objs = objects();
    const ds = find(objs, 'DaemonSet', 'hoard-csi-node');
    const c = ds.spec.template.spec.containers.find((x: any) => x.name === 'csi');
    expect(c.args).toEqual(expect.arrayContaining([
      '--mount-mode=pod',
      '--mount-root=/var/lib/kubelet/plugins/csi.hoard.dev/mounts',
      '--mount-priority-class=system-node-critical',
      '--mount-timeout=60',
    ]));
    expect(c.env).toContainEqual({ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } });
    expect(c.env).toContainEqual({ name: 'HOARD_MOUNT_IMAGE', value: c.image });
    expect(c.volumeMounts).toContainEqual({ name: 'kubelet-dir', mountPath: '/var/lib/kubelet', mountPropagation: 'Bidirectional' });
    // Every flag the chart passes is one `hoard csi` knows.
    const known = new Set(csiCommand().options.map((o) => o.long));
    for (const a of c.args as string[]) expect(known).toContain(a.split('=')[0]);
  });

  it('follows csi.kubeletDir', () => {
    const defaults = parse(readFileSync(join(packageRoot(), 'charts/hoard/values.yaml'), 'utf8')) as { csi: Record<string, unknown> };
    const ds = find(objects({ csi: { ...defaults.csi, kubeletDir: '/data/kubelet' } }), 'DaemonSet', 'hoard-csi-node');
    const c = ds.spec.template.spec.containers.find((x: any) => x.name === 'csi');
    expect(c.args).toContain('--mount-root=/data/kubelet/plugins/csi.hoard.dev/mounts');
  });

  it('grants the plugin pods and Secrets in its namespace, Events, reads of Datasets and CacheRuntimes and lists of CacheRuntimes (cache tier folders); the operator may watch pods', () => {
    const objs = objects();
    expect(find(objs, 'Role', 'hoard-csi-node').metadata.namespace).toBe('hoard-system');
    expect(find(objs, 'Role', 'hoard-csi-node').rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'create', 'delete'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create', 'update', 'delete'] },
    ]);
    expect(find(objs, 'RoleBinding', 'hoard-csi-node').subjects).toEqual([{ kind: 'ServiceAccount', name: 'hoard-csi-node', namespace: 'hoard-system' }]);
    expect(find(objs, 'ClusterRole', 'hoard-csi-node').rules).toEqual([
      { apiGroups: ['data.hoard.dev'], resources: ['datasets'], verbs: ['get'] },
      { apiGroups: ['data.hoard.dev'], resources: ['cacheruntimes'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
    ]);
    expect(find(objs, 'ClusterRoleBinding', 'hoard-csi-node').roleRef.name).toBe('hoard-csi-node');
    const op = find(objs, 'ClusterRole', 'hoard-operator').rules.find((r: any) => r.resources.includes('pods'));
    expect(op.verbs).toEqual(expect.arrayContaining(['list', 'watch']));
  });
});
