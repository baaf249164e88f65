import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderChart } from './support/chart.js';

/** The helm-template subset test/support/chart.ts renders (no helm binary here), checked on a small chart. */

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function chart(templates: Record<string, string>, values: string): string {
  dir = mkdtempSync(join(tmpdir(), 'hoard-chart-'));
  mkdirSync(join(dir, 'templates'));
  writeFileSync(join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: "4.5"\n');
  writeFileSync(join(dir, 'values.yaml'), values);
  for (const [f, text] of Object.entries(templates)) writeFileSync(join(dir, 'templates', f), text);
  return dir;
}

describe('renderChart', () => {
  it('renders values, release, chart, include/define, pipelines and whitespace trimming', () => {
    const d = chart(
      {
        '_helpers.tpl': '{{- define "demo.labels" -}}\napp: {{ .Chart.Name }}\n{{- if .Values.extraLabel }}\nextra: {{ .Values.extraLabel | quote }}\n{{- end }}\n{{- end -}}\n',
        'cm.yaml':
          'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n  namespace: {{ .Release.Namespace }}\n  labels: {{- include "demo.labels" . | nindent 4 }}\ndata:\n  image: {{ .Values.image.tag | default .Chart.AppVersion }}\n  n: {{ .Values.n | quote }}\n{{- if not .Values.off }}\n  on: "yes"\n{{- else }}\n  on: "no"\n{{- end }}\n  res: |\n{{- toYaml .Values.res | nindent 4 }}\n{{- with .Values.ns }}\n  ns: {{ join "," . }}\n  rel: {{ $.Release.Name }}\n{{- end }}\n{{- with .Values.none }}\n  none: x\n{{- end }}\n',
      },
      'image: {tag: ""}\nn: 3\noff: false\nextraLabel: x\nres: {cpu: 1m}\nns: [a, b]\nnone: []\n',
    );
    const [m] = renderChart(d, { releaseName: 'r', namespace: 'ns' });
    expect(m.source).toBe('templates/cm.yaml');
    expect(parse(m.text)).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'r-cm', namespace: 'ns', labels: { app: 'demo', extra: 'x' } },
      data: { image: 4.5, n: '3', on: 'yes', res: 'cpu: 1m\n', ns: 'a,b', rel: 'r' },
    });
  });

  it('throws on template functions outside the subset, naming them', () => {
    const d = chart({ 'x.yaml': 'a: {{ .Values.a | upper }}\n' }, 'a: b\n');
    expect(() => renderChart(d)).toThrow(/"upper" is outside the template subset/);
  });
});
