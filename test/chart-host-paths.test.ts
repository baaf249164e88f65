// The chart passes the admin's host-path allow-list to the operator and the CSI node plugin, rendered as `helm template`
// would (test/support/chart.ts), and the rendered flag parses as the operator parses it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { csiCommand } from '../bin/commands/csi.js';
import { operatorCommand } from '../bin/commands/operator.js';
import { parseHostPathAllowList } from '../lib/host-paths.js';
import { packageRoot } from '../lib/root.js';
import { renderChart } from './support/chart.js';

const chartDir = join(packageRoot(), 'charts/hoard');
const defaults = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as { operator: Record<string, unknown>; csi: Record<string, unknown> };

function containerArgs(kind: string, name: string, container: string, values?: Record<string, unknown>): string[] {
  const objs = renderChart(chartDir, { namespace: 'hoard-system', values }).flatMap((m) => parseAllDocuments(m.text).map((d) => d.toJS() as Record<string, any>).filter(Boolean));
  const obj = objs.find((o) => o.kind === kind && o.metadata?.name === name)!;
  return obj.spec.template.spec.containers.find((c: any) => c.name === container).args;
}
const flag = (args: string[], name: string) => args.filter((a) => a.startsWith(`${name}=`)).map((a) => a.slice(name.length + 1));
const operatorArgs = (values?: Record<string, unknown>) => containerArgs('Deployment', 'hoard-operator', 'operator', values);
const nodeArgs = (values?: Record<string, unknown>) => containerArgs('DaemonSet', 'hoard-csi-node', 'csi', values);

describe('chart: operator.hostPathAllowList', () => {
  it('defaults to /srv and reaches the operator as --host-path-allow, a flag it knows', () => {
    expect(defaults.operator.hostPathAllowList).toEqual(['/srv']);
    const args = operatorArgs();
    expect(flag(args, '--host-path-allow')).toEqual(['/srv']);
    expect(operatorCommand().options.map((o) => o.long)).toContain('--host-path-allow');
    // The node plugin applies the same rule before a mount pod gets a host path.
    const node = nodeArgs();
    expect(flag(node, '--host-path-allow')).toEqual(['/srv']);
    expect(flag(node, '--kubelet-dir')).toEqual(['/var/lib/kubelet']);
    expect(csiCommand().options.map((o) => o.long)).toEqual(expect.arrayContaining(['--host-path-allow', '--kubelet-dir']));
  });

  it('gives the operator and the node plugin the same list and csi.kubeletDir', () => {
    const values = { operator: { ...defaults.operator, hostPathAllowList: ['/data/shared'] }, csi: { ...defaults.csi, kubeletDir: '/data/kubelet' } };
    expect(flag(operatorArgs(values), '--host-path-allow')).toEqual(['/data/shared']);
    expect(flag(nodeArgs(values), '--host-path-allow')).toEqual(['/data/shared']);
    expect(flag(operatorArgs(values), '--kubelet-dir')).toEqual(['/data/kubelet']);
    expect(flag(nodeArgs(values), '--kubelet-dir')).toEqual(['/data/kubelet']);
  });

  it('renders the list the admin sets, comma-separated, and [] as "allow none"', () => {
    const wide = flag(operatorArgs({ operator: { ...defaults.operator, hostPathAllowList: ['/srv', '/mnt/nfs/datasets'] } }), '--host-path-allow');
    expect(wide).toEqual(['/srv,/mnt/nfs/datasets']);
    expect(parseHostPathAllowList(wide[0]!, '--host-path-allow')).toEqual(['/srv', '/mnt/nfs/datasets']);
    const none = flag(operatorArgs({ operator: { ...defaults.operator, hostPathAllowList: [] } }), '--host-path-allow');
    expect(none).toEqual(['']);
    expect(parseHostPathAllowList(none[0]!, '--host-path-allow')).toEqual([]);
  });
});
