import type { KObject, PrinterColumn, ResourceType } from './types.js';
import { readPath } from './util.js';

/** meta.k8s.io/v1 Table responses, which `kubectl get` asks for (Name, printer columns, Age). */

export function wantsTable(accept: string | undefined): boolean {
  return !!accept && /as=Table/.test(accept);
}

function age(ts: unknown): string {
  if (typeof ts !== 'string') return '<unknown>';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Printer-column JSONPath, simple dotted paths only (anything fancier renders empty). */
function cell(obj: KObject, col: PrinterColumn): unknown {
  const path = col.jsonPath.replace(/^\{|\}$/g, '');
  if (!/^(\.[A-Za-z0-9_-]+)+$/.test(path)) return '';
  const v = readPath(obj, path);
  if (col.type === 'date') return v === undefined ? '<unknown>' : age(v);
  if (v === undefined || v === null) return '';
  return typeof v === 'object' ? JSON.stringify(v) : v;
}

export function toTable(rt: ResourceType, items: KObject[], resourceVersion: string): Record<string, unknown> {
  const cols = rt.printerColumns;
  const hasAge = cols.some((c) => c.jsonPath === '.metadata.creationTimestamp');
  const columnDefinitions = [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    ...cols.map((c) => ({ name: c.name, type: c.type === 'date' ? 'string' : c.type, format: '', description: c.description ?? '', priority: c.priority ?? 0 })),
    ...(hasAge ? [] : [{ name: 'Age', type: 'string', format: '', description: 'CreationTimestamp', priority: 0 }]),
  ];
  const rows = items.map((obj) => ({
    cells: [obj.metadata.name, ...cols.map((c) => cell(obj, c)), ...(hasAge ? [] : [age(obj.metadata.creationTimestamp)])],
    object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata },
  }));
  return { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion }, columnDefinitions, rows };
}
