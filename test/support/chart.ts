import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';

/**
 * Renders a Helm chart's templates the way `helm template` does, for the subset of the Go template
 * language this project's chart uses: `{{ .Values.x }}`, `.Release.*`, `.Chart.*`, `include`,
 * `define`, `if`/`with`/`else`/`end` (with `not`, `eq`, `join`; `$` is the root), pipelines through `quote`, `default`, `toYaml`,
 * `indent`, `nindent`, and the `{{-`/`-}}`
 * whitespace trimming. Anything else throws, naming the action, so a template that grows past this
 * subset fails the tests loudly instead of rendering wrong (no helm binary is available here).
 */

export interface RenderedManifest {
  /** templates/<file> */
  source: string;
  text: string;
}

export interface RenderOptions {
  releaseName?: string;
  namespace?: string;
  values?: Record<string, unknown>;
}

interface Context {
  Values: Record<string, unknown>;
  Release: Record<string, unknown>;
  Chart: Record<string, unknown>;
}

type Token = { kind: 'text'; text: string } | { kind: 'action'; body: string; trimLeft: boolean; trimRight: boolean };

function tokenize(src: string, file: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      out.push({ kind: 'text', text: src.slice(i) });
      break;
    }
    out.push({ kind: 'text', text: src.slice(i, open) });
    const close = src.indexOf('}}', open);
    if (close < 0) throw new Error(`${file}: unclosed "{{"`);
    let body = src.slice(open + 2, close);
    const trimLeft = body.startsWith('-');
    const trimRight = body.endsWith('-');
    if (trimLeft) body = body.slice(1);
    if (trimRight) body = body.slice(0, -1);
    out.push({ kind: 'action', body: body.trim(), trimLeft, trimRight });
    i = close + 2;
  }
  // Trim markers eat the whitespace (newlines included) next to the action.
  for (let t = 0; t < out.length; t++) {
    const tok = out[t];
    if (tok.kind !== 'action') continue;
    const prev = out[t - 1];
    const next = out[t + 1];
    if (tok.trimLeft && prev?.kind === 'text') prev.text = prev.text.replace(/\s+$/, '');
    if (tok.trimRight && next?.kind === 'text') next.text = next.text.replace(/^\s+/, '');
  }
  return out;
}

/** Splits `include "x" . | nindent 4` into words, keeping quoted strings whole. */
function words(s: string): string[] {
  return s.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
}

/** `.` is the current scope (the root, or a `with` value), `$` the root. */
function lookup(root: Context, dot: unknown, path: string, where: string): unknown {
  if (path === '.') return dot;
  if (path === '$') return root;
  let cur: unknown = path.startsWith('$.') ? root : dot;
  const rel = path.startsWith('$.') ? path.slice(1) : path;
  if (!rel.startsWith('.')) throw new Error(`${where}: unsupported template value "${path}"`);
  for (const part of rel.slice(1).split('.')) {
    cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[part] : undefined;
  }
  return cur;
}

/** Go template truth: false, 0, nil and empty strings, maps and lists are false. */
function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** The matching `else` (at depth 0) and `end` of the block opened at tokens[start]. */
function block(tokens: Token[], start: number, file: string): { elseAt?: number; end: number } {
  let depth = 0;
  let elseAt: number | undefined;
  for (let i = start + 1; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.kind !== 'action') continue;
    if (/^(if|range|with|define|block)\b/.test(t.body)) depth++;
    else if (t.body === 'else' && depth === 0) elseAt = i;
    else if (t.body === 'end') {
      if (depth === 0) return { elseAt, end: i };
      depth--;
    }
  }
  throw new Error(`${file}: {{ ${tokens[start].kind === 'action' ? tokens[start].body : ''} }} has no {{ end }}`);
}

const scalar = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

class Renderer {
  private readonly defines = new Map<string, Token[]>();
  private dot: unknown;

  constructor(private readonly ctx: Context) {
    this.dot = ctx;
  }

  /** Renders with `.` bound to `dot` (a `with` block, an `include` argument). */
  private scoped(dot: unknown, tokens: Token[], file: string): string {
    const saved = this.dot;
    this.dot = dot;
    try {
      return this.render(tokens, file);
    } finally {
      this.dot = saved;
    }
  }

  addDefines(tokens: Token[], file: string): Token[] {
    const rest: Token[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const tok = tokens[i];
      const m = tok.kind === 'action' ? /^define\s+"([^"]+)"$/.exec(tok.body) : null;
      if (!m) {
        rest.push(tok);
        continue;
      }
      const { end } = block(tokens, i, file);
      this.defines.set(m[1], tokens.slice(i + 1, end));
      i = end;
    }
    return rest;
  }

  render(tokens: Token[], file: string): string {
    let out = '';
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (t.kind === 'text') {
        out += t.text;
        continue;
      }
      const cond = /^(if|with)\s+(.+)$/.exec(t.body);
      if (!cond) {
        out += scalar(this.pipeline(t.body, file));
        continue;
      }
      const { elseAt, end } = block(tokens, i, file);
      const value = this.pipeline(cond[2], file);
      const body = tokens.slice(i + 1, elseAt ?? end);
      const otherwise = elseAt === undefined ? [] : tokens.slice(elseAt + 1, end);
      if (!truthy(value)) out += this.render(otherwise, file);
      else out += cond[1] === 'with' ? this.scoped(value, body, file) : this.render(body, file);
      i = end;
    }
    return out;
  }

  private pipeline(body: string, file: string): unknown {
    const where = `${file}: {{ ${body} }}`;
    if (body.startsWith('/*')) return '';
    const stages = body.split('|').map((s) => words(s.trim()));
    let value = this.command(stages[0], undefined, where);
    for (const stage of stages.slice(1)) value = this.command(stage, { value }, where);
    return value;
  }

  private arg(w: string, where: string): unknown {
    if (w.startsWith('"')) return JSON.parse(w);
    if (/^-?\d+$/.test(w)) return Number(w);
    return lookup(this.ctx, this.dot, w, where);
  }

  private command(ws: string[], piped: { value: unknown } | undefined, where: string): unknown {
    const [fn, ...rawArgs] = ws;
    const args = rawArgs.map((a) => this.arg(a, where));
    if (piped) args.push(piped.value);
    switch (fn) {
      case 'include': {
        const body = this.defines.get(String(args[0]));
        if (!body) throw new Error(`${where}: no template named ${String(args[0])}`);
        return this.scoped(args[1], body, where);
      }
      case 'not':
        return !truthy(args[0]);
      case 'eq':
        return args.slice(1).some((a) => a === args[0]);
      case 'join':
        return Array.isArray(args[1]) ? args[1].map(scalar).join(String(args[0])) : scalar(args[1]);
      case 'quote':
        return JSON.stringify(scalar(args[0]));
      case 'default':
        return args[1] === undefined || args[1] === null || args[1] === '' ? args[0] : args[1];
      case 'toYaml':
        return stringify(args[0]).replace(/\n$/, '');
      case 'indent':
      case 'nindent': {
        const pad = ' '.repeat(Number(args[0]));
        const text = scalar(args[1]).split('\n').map((l) => pad + l).join('\n');
        return fn === 'nindent' ? `\n${text}` : text;
      }
      default:
        if ((fn.startsWith('.') || fn.startsWith('$')) && !rawArgs.length && !piped) return lookup(this.ctx, this.dot, fn, where);
        throw new Error(`${where}: "${fn}" is outside the template subset test/support/chart.ts renders; extend it`);
    }
  }
}

/** `helm template <releaseName> <chartDir> --namespace <namespace>`: one entry per template file. */
export function renderChart(chartDir: string, opts: RenderOptions = {}): RenderedManifest[] {
  const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  const values = { ...(parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>), ...(opts.values ?? {}) };
  const ctx: Context = {
    Values: values,
    Release: { Name: opts.releaseName ?? 'hoard', Namespace: opts.namespace ?? 'hoard-system', Service: 'Helm' },
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
  };
  const renderer = new Renderer(ctx);
  const dir = join(chartDir, 'templates');
  const files = readdirSync(dir).sort();
  const parsed = files.map((f) => ({ f, tokens: renderer.addDefines(tokenize(readFileSync(join(dir, f), 'utf8'), f), f) }));
  return parsed
    .filter(({ f }) => !f.startsWith('_') && /\.ya?ml$/.test(f))
    .map(({ f, tokens }) => ({ source: `templates/${f}`, text: renderer.render(tokens, f) }));
}
