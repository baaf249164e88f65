import { badRequest } from './errors.js';
import type { KObject } from './types.js';

/** A compiled label or field selector: a predicate over objects. */
export type Selector = (obj: KObject) => boolean;

const MATCH_ALL: Selector = () => true;

interface Requirement {
  key: string;
  op: 'eq' | 'neq' | 'in' | 'notin' | 'exists' | 'notexists';
  values: string[];
}

/** Split on commas that are not inside `( )` (set-based values contain commas). */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t.length > 0);
}

function parseRequirement(term: string, selectorKind: string): Requirement {
  let m = /^!\s*([^\s=!()]+)$/.exec(term);
  if (m) return { key: m[1], op: 'notexists', values: [] };
  m = /^([^\s=!()]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (m) {
    const values = m[3].split(',').map((v) => v.trim()).filter((v) => v.length > 0);
    return { key: m[1], op: m[2] as 'in' | 'notin', values };
  }
  m = /^([^\s=!()]+)\s*(==|=|!=)\s*([^\s=!(),]*)$/.exec(term);
  if (m) return { key: m[1], op: m[2] === '!=' ? 'neq' : 'eq', values: [m[3]] };
  m = /^([^\s=!()]+)$/.exec(term);
  if (m) return { key: m[1], op: 'exists', values: [] };
  throw badRequest(`unable to parse requirement: ${selectorKind} "${term}": expected "key=value", "key!=value", "key in (a,b)", "key notin (a)", "key" or "!key"`);
}

function matches(req: Requirement, value: string | undefined): boolean {
  switch (req.op) {
    case 'eq':
      return value === req.values[0];
    case 'neq':
      return value !== req.values[0];
    case 'in':
      return value !== undefined && req.values.includes(value);
    case 'notin':
      return value === undefined || !req.values.includes(value);
    case 'exists':
      return value !== undefined;
    case 'notexists':
      return value === undefined;
  }
}

/** Parse a labelSelector query (equality- and set-based). */
export function parseLabelSelector(s: string | null | undefined): Selector {
  if (!s) return MATCH_ALL;
  const reqs = splitTerms(s).map((t) => parseRequirement(t, 'labelSelector'));
  return (obj) => {
    const labels: Record<string, string> = obj.metadata.labels ?? {};
    return reqs.every((r) => matches(r, labels[r.key]));
  };
}

/** Read a dotted field path (`metadata.name`, `status.phase`) as a string, as field selectors compare strings. */
function fieldValue(obj: KObject, path: string): string | undefined {
  let cur: any = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = cur[part];
  }
  if (cur === undefined || cur === null) return path === 'metadata.namespace' ? '' : undefined;
  return typeof cur === 'object' ? JSON.stringify(cur) : String(cur);
}

/** Parse a fieldSelector (`=`, `==`, `!=` on any dotted field; metadata.name/namespace are the common ones). */
export function parseFieldSelector(s: string | null | undefined): Selector {
  if (!s) return MATCH_ALL;
  const reqs = splitTerms(s).map((t) => {
    const r = parseRequirement(t, 'fieldSelector');
    if (r.op !== 'eq' && r.op !== 'neq') throw badRequest(`invalid field selector "${t}": only =, == and != are supported`);
    return r;
  });
  return (obj) => reqs.every((r) => matches(r, fieldValue(obj, r.key) ?? ''));
}

/** Render a metav1.LabelSelector object as its string form (for Scale.status.selector). */
export function labelSelectorToString(sel: any): string {
  if (!sel || typeof sel !== 'object') return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) parts.push(`${k}=${String(v)}`);
  for (const e of sel.matchExpressions ?? []) {
    const op = String(e.operator ?? '');
    if (op === 'In') parts.push(`${e.key} in (${(e.values ?? []).join(',')})`);
    else if (op === 'NotIn') parts.push(`${e.key} notin (${(e.values ?? []).join(',')})`);
    else if (op === 'Exists') parts.push(String(e.key));
    else if (op === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

/**
 * Whether labels satisfy a metav1.LabelSelector object (matchLabels AND every matchExpression);
 * an empty or absent selector matches everything, as in admission webhooks' selectors.
 */
export function matchesLabelSelector(sel: any, labels: Record<string, string> | undefined): boolean {
  if (!sel || typeof sel !== 'object') return true;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const value = l[e.key];
    const values: string[] = e.values ?? [];
    const op = ({ In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: 'notexists' } as const)[e.operator as 'In'];
    if (!op || !matches({ key: e.key, op, values }, value)) return false;
  }
  return true;
}
