import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../../lib/root.js';
import { renderChart } from './chart.js';

/** One Kubernetes object from a YAML file the project ships, with where it came from. */
export interface ShippedObject {
  /** e.g. `crds/datasets.data.hoard.dev.yaml#0`, `charts/hoard/templates/csi.yaml#1` */
  source: string;
  obj: Record<string, any>;
}

function parseObjects(source: string, text: string): ShippedObject[] {
  const out: ShippedObject[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    if (doc.errors.length) throw new Error(`${source}#${i}: ${doc.errors[0].message}`);
    const obj = doc.toJS() as unknown;
    if (obj === null || obj === undefined) return; // an empty document (comments only)
    if (typeof obj !== 'object' || Array.isArray(obj)) throw new Error(`${source}#${i}: not a Kubernetes object`);
    out.push({ source: `${source}#${i}`, obj: obj as Record<string, any> });
  });
  return out;
}

const yamlFiles = (dir: string) => readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();

/**
 * Every object a user installs from this repository: crds/, the chart's CRD copies, the chart's
 * templates rendered with its default values (`helm template hoard charts/hoard -n hoard-system`),
 * and examples/.
 */
export function shippedObjects(): ShippedObject[] {
  const root = packageRoot();
  const out: ShippedObject[] = [];
  for (const dir of ['crds', 'charts/hoard/crds', 'examples']) {
    for (const f of yamlFiles(join(root, dir))) out.push(...parseObjects(`${dir}/${f}`, readFileSync(join(root, dir, f), 'utf8')));
  }
  for (const m of renderChart(join(root, 'charts/hoard'), { namespace: 'hoard-system' })) out.push(...parseObjects(`charts/hoard/${m.source}`, m.text));
  return out;
}

/**
 * Paths of keys whose value parsed to null where the schema wants a value. Kubernetes never wants
 * a null in these objects: a bare `key:` or a flow mapping cut by an unquoted comma
 * (`{description: a, b}` makes `b` a key with a null value) is always a mistake. `nullableAt`
 * names the paths whose schema says `nullable: true`.
 */
export function nullValues(obj: unknown, nullableAt: (path: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (v: unknown, path: string) => {
    if (v === null) {
      if (!nullableAt(path)) out.push(path);
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
    else if (typeof v === 'object') for (const [k, x] of Object.entries(v as object)) walk(x, path ? `${path}.${k}` : k);
  };
  walk(obj, '');
  return out;
}
