import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { packageRoot } from '../lib/root.js';
import { crdManifests } from './operator/harness.js';

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
