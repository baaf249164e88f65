import type { IncomingMessage, ServerResponse } from 'node:http';
import YAML from 'yaml';
import { apiVersions, group, groupList, resourceList, VERSION_INFO } from './discovery.js';
import { ApiError, badRequest, methodNotAllowed, notFoundPath, qualifiedResource, unsupportedMediaType } from './errors.js';
import { openapiV3Document, openapiV3Root } from './openapi.js';
import { jsonPatch } from './patch.js';
import type { Registry } from './registry.js';
import { fromScale, toScale } from './scale.js';
import { parseFieldSelector, parseLabelSelector, type Selector } from './selectors.js';
import type { DeleteOptions, FieldValidation, PatchType, Propagation, Store } from './store.js';
import { toTable, wantsTable } from './table.js';
import type { MutatingWebhooks } from './mutating-webhooks.js';
import type { KObject, ResourceType } from './types.js';
import { isObject } from './util.js';
import type { Operation } from './webhook-match.js';
import { openWatch } from './watch-stream.js';

export interface RouterOptions {
  bookmarkIntervalMs: number;
  /** Called with every request (method, path, status) when set: handy when debugging a controller. */
  onRequest?: (method: string, path: string, status: number) => void;
  /** Mutating admission webhooks, called on creates and updates before the store admits them. */
  admission?: MutatingWebhooks;
}

interface ResourceRequest {
  rt: ResourceType;
  ns?: string;
  name?: string;
  sub?: string;
  watchPath: boolean;
}

const MAX_BODY = 16 * 1024 * 1024;

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ApiError(413, 'RequestEntityTooLarge', 'request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(text: string, contentType: string): unknown {
  // Protobuf/CBOR (kubectl's default for built-ins): 415 makes client-go fall back to JSON.
  if (/protobuf|cbor/.test(contentType)) throw unsupportedMediaType(contentType);
  if (!text.trim()) return undefined;
  try {
    return /yaml/.test(contentType) ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw badRequest(`the request body is not valid ${/yaml/.test(contentType) ? 'YAML' : 'JSON'}: ${(err as Error).message}`);
  }
}

function patchType(contentType: string): PatchType {
  const t = contentType.split(';')[0].trim().toLowerCase();
  switch (t) {
    case 'application/json-patch+json':
      return 'json';
    case 'application/merge-patch+json':
      return 'merge';
    case 'application/strategic-merge-patch+json':
      return 'strategic';
    case 'application/apply-patch+yaml':
    case 'application/apply-patch+json':
      return 'apply';
    default:
      throw unsupportedMediaType(t);
  }
}

/** HTTP front end: URL layout of kube-apiserver, JSON bodies, Status errors. */
export class Router {
  constructor(
    private readonly store: Store,
    private readonly registry: Registry,
    private readonly opts: RouterOptions,
  ) {}

  handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const done = (code: number) => this.opts.onRequest?.(req.method ?? 'GET', url.pathname + url.search, code);
    this.route(req, res, url).then(
      () => done(res.statusCode),
      (err: unknown) => {
        const apiErr = err instanceof ApiError ? err : new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error)?.stack ?? String(err)}`);
        if (!res.headersSent) send(res, apiErr.code, apiErr.toStatus());
        else res.end();
        done(apiErr.code);
      },
    );
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const parts = url.pathname.split('/').filter((p) => p.length > 0).map(decodeURIComponent);
    const host = req.headers.host ?? '127.0.0.1';
    if (parts.length === 0) return send(res, 200, { paths: ['/api', '/api/v1', '/apis', '/healthz', '/livez', '/openapi/v3', '/readyz', '/version'] });
    if (parts.length === 1 && ['healthz', 'livez', 'readyz'].includes(parts[0])) return send(res, 200, 'ok');
    if (parts.length === 1 && parts[0] === 'version') return send(res, 200, VERSION_INFO);
    if (parts[0] === 'api') {
      if (parts.length === 1) return send(res, 200, apiVersions(host));
      if (parts[1] !== 'v1') throw notFoundPath(url.pathname);
      if (parts.length === 2) return send(res, 200, resourceList(this.registry, '', 'v1'));
      return this.resource(req, res, url, this.parse('', 'v1', parts.slice(2), url.pathname));
    }
    if (parts[0] === 'apis') {
      if (parts.length === 1) return send(res, 200, groupList(this.registry));
      if (parts.length === 2) {
        const g = group(this.registry, parts[1]);
        if (!g) throw notFoundPath(url.pathname);
        return send(res, 200, g);
      }
      if (!this.registry.hasGroupVersion(parts[1], parts[2])) throw notFoundPath(url.pathname);
      if (parts.length === 3) return send(res, 200, resourceList(this.registry, parts[1], parts[2]));
      return this.resource(req, res, url, this.parse(parts[1], parts[2], parts.slice(3), url.pathname));
    }
    if (parts[0] === 'openapi' && parts[1] === 'v3') {
      if (parts.length === 2) return send(res, 200, openapiV3Root(this.registry));
      const [kind, group, version] = parts[2] === 'api' ? ['api', '', parts[3]] : [parts[2], parts[3], parts[4]];
      const expected = kind === 'api' ? 4 : 5;
      if ((kind !== 'api' && kind !== 'apis') || parts.length !== expected || !version || !this.registry.hasGroupVersion(group ?? '', version)) throw notFoundPath(url.pathname);
      return send(res, 200, openapiV3Document(this.registry, group ?? '', version));
    }
    // /openapi/v2 and anything else: not served (kubectl uses /openapi/v3 since 1.27).
    throw notFoundPath(url.pathname);
  }

  private parse(group: string, version: string, rest: string[], path: string): ResourceRequest {
    let watchPath = false;
    if (rest[0] === 'watch') {
      watchPath = true;
      rest = rest.slice(1);
    }
    let ns: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3 && this.registry.lookup(group, version, rest[2])?.namespaced) {
      ns = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, sub, ...extra] = rest;
    const rt = plural ? this.registry.lookup(group, version, plural) : undefined;
    if (!rt || extra.length) throw notFoundPath(path);
    if (sub !== undefined && !((sub === 'status' && rt.statusSubresource) || (sub === 'scale' && rt.scale))) throw notFoundPath(path);
    return { rt, ns, name, sub, watchPath };
  }

  private async resource(req: IncomingMessage, res: ServerResponse, url: URL, r: ResourceRequest): Promise<void> {
    const q = url.searchParams;
    const method = req.method ?? 'GET';
    const { rt, ns, name, sub } = r;
    const dryRun = q.getAll('dryRun').includes('All');
    const fieldValidation = fieldValidationOf(q);
    const warnings: string[] = [];
    const write = { dryRun, fieldValidation, warnings };
    const sendWritten = (code: number, obj: unknown) => {
      if (warnings.length) res.setHeader('Warning', warnings.map((w) => `299 - ${JSON.stringify(w)}`));
      send(res, code, obj);
    };
    const contentType = String(req.headers['content-type'] ?? 'application/json');
    const body = method === 'GET' ? undefined : parseBody(await readBody(req), contentType);
    const watching = r.watchPath || q.get('watch') === 'true' || q.get('watch') === '1';

    if (name === undefined) {
      const filter = this.selectors(q);
      if (method === 'GET' && watching) {
        openWatch(this.store, req, res, { rt, ns, filter, query: q, bookmarkIntervalMs: this.opts.bookmarkIntervalMs });
        return;
      }
      if (method === 'GET') return this.list(req, res, r, filter, q);
      if (method === 'POST') {
        if (rt.namespaced && !ns) throw methodNotAllowed(`POST to ${qualifiedResource(rt)} needs a namespace: use /namespaces/<ns>/${rt.plural}`);
        const object = await this.mutate(rt, ns, 'CREATE', '', this.store.decode(rt, body, write), undefined, write);
        return sendWritten(201, this.store.create(rt, ns, object, write));
      }
      if (method === 'DELETE') {
        const items = this.store.list(rt, ns, filter);
        const deleted = items.map((o) => this.store.delete(rt, o.metadata.namespace, o.metadata.name, this.deleteOptions(q, body)).object);
        return send(res, 200, { kind: rt.listKind, apiVersion: rt.apiVersion, metadata: { resourceVersion: this.store.currentResourceVersion() }, items: deleted });
      }
      throw methodNotAllowed();
    }
    if (rt.namespaced && !ns) throw notFoundPath(url.pathname);
    if (watching && method === 'GET') {
      const byName = parseFieldSelector(`metadata.name=${name}`);
      const filter = this.selectors(q);
      openWatch(this.store, req, res, { rt, ns, filter: (o) => byName(o) && filter(o), query: q, bookmarkIntervalMs: this.opts.bookmarkIntervalMs });
      return;
    }
    if (sub === 'scale') return this.scale(res, r, name, method, body, contentType, dryRun);
    const subresource = sub === 'status' ? ('status' as const) : undefined;
    switch (method) {
      case 'GET': {
        const obj = this.store.get(rt, ns, name);
        return send(res, 200, wantsTable(req.headers.accept) ? toTable(rt, [obj], obj.metadata.resourceVersion) : obj);
      }
      case 'PUT': {
        const decoded = this.store.decode(rt, body, write);
        const old = this.store.get(rt, ns, name);
        const candidate = subresource ? { ...old, status: decoded.status } : decoded;
        const object = await this.mutate(rt, ns, 'UPDATE', sub ?? '', candidate, old, write);
        return sendWritten(200, this.store.update(rt, ns, name, object, { ...write, subresource }));
      }
      case 'PATCH':
        return this.patch(rt, ns, name, subresource, patchType(contentType), body, write, sendWritten);
      case 'DELETE': {
        const { object, removed } = this.store.delete(rt, ns, name, this.deleteOptions(q, body));
        if (!removed) return send(res, 200, object);
        const md = object.metadata;
        return send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: md.name, ...(rt.group ? { group: rt.group } : {}), kind: rt.plural, uid: md.uid } });
      }
      default:
        throw methodNotAllowed();
    }
  }

  /**
   * Mutating admission of a decoded create or update body (what kube-apiserver runs between
   * decoding and validation). Returns the body to store.
   */
  private async mutate(rt: ResourceType, ns: string | undefined, operation: Operation, subresource: string, decoded: Record<string, any>, old: KObject | undefined, write: { dryRun: boolean; warnings: string[] }): Promise<Record<string, any>> {
    if (!this.opts.admission) return decoded;
    const md = isObject(decoded.metadata) ? decoded.metadata : {};
    const isNamespace = rt.group === '' && rt.plural === 'namespaces';
    const namespace = rt.namespaced ? (ns ?? String(md.namespace ?? '')) : isNamespace ? String(md.name ?? old?.metadata.name ?? '') : '';
    const object: KObject = { ...decoded, apiVersion: rt.apiVersion, kind: rt.kind, metadata: rt.namespaced ? { ...md, namespace } : { ...md } };
    const mutated = await this.opts.admission.admit(
      { rt, operation, namespace, name: String(md.name ?? old?.metadata.name ?? ''), subresource, object, oldObject: old, dryRun: write.dryRun },
      write.warnings,
    );
    return mutated ?? decoded;
  }

  /** PATCH: the patched object goes through admission like a PUT body (a create, for apply of a missing object). */
  private async patch(
    rt: ResourceType,
    ns: string | undefined,
    name: string,
    subresource: 'status' | undefined,
    type: PatchType,
    body: unknown,
    write: { dryRun: boolean; fieldValidation: FieldValidation; warnings: string[] },
    sendWritten: (code: number, obj: unknown) => void,
  ): Promise<void> {
    const opts = { ...write, subresource };
    // Like the real server's GuaranteedUpdate: a write in between (while webhooks ran) re-applies the patch.
    for (let attempt = 1; ; attempt++) {
      const plan = this.store.preparePatch(rt, ns, name, type, body, opts);
      const decoded = this.store.decode(rt, plan.body, opts);
      const candidate = subresource && plan.old ? { ...plan.old, status: decoded.status } : decoded;
      const object = await this.mutate(rt, ns, plan.old ? 'UPDATE' : 'CREATE', subresource ?? '', candidate, plan.old, write);
      const rvInPatch = isObject(body) && isObject(body.metadata) && body.metadata.resourceVersion !== undefined;
      try {
        if (!plan.old) return sendWritten(201, this.store.create(rt, ns, { ...object, metadata: { ...(object.metadata ?? {}), name } }, opts));
        return sendWritten(200, this.store.update(rt, ns, name, object, opts));
      } catch (e) {
        const raced = e instanceof ApiError && e.code === 409 && !rvInPatch && attempt < 5;
        if (!raced) throw e;
      }
    }
  }

  private selectors(q: URLSearchParams): Selector {
    const labels = parseLabelSelector(q.get('labelSelector'));
    const fields = parseFieldSelector(q.get('fieldSelector'));
    return (o) => labels(o) && fields(o);
  }

  private list(req: IncomingMessage, res: ServerResponse, r: ResourceRequest, filter: Selector, q: URLSearchParams): void {
    const rv = this.store.currentResourceVersion();
    let items = this.store.list(r.rt, r.ns, filter);
    const metadata: Record<string, unknown> = { resourceVersion: rv };
    const cont = q.get('continue');
    if (cont) {
      let after: string;
      try {
        after = String(JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')).after);
      } catch {
        throw badRequest(`invalid continue token "${cont}"`);
      }
      items = items.filter((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}` > after);
    }
    const limit = Number(q.get('limit') ?? 0);
    if (limit > 0 && items.length > limit) {
      const last = items[limit - 1].metadata;
      metadata.continue = Buffer.from(JSON.stringify({ after: `${last.namespace ?? ''}/${last.name}` })).toString('base64url');
      metadata.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
    }
    if (wantsTable(req.headers.accept)) return send(res, 200, toTable(r.rt, items, rv));
    send(res, 200, { kind: r.rt.listKind, apiVersion: r.rt.apiVersion, metadata, items });
  }

  private deleteOptions(q: URLSearchParams, body: unknown): DeleteOptions {
    const b: Record<string, any> = isObject(body) ? body : {};
    const policy = (b.propagationPolicy ?? q.get('propagationPolicy') ?? undefined) as Propagation | undefined;
    if (policy && !['Background', 'Foreground', 'Orphan'].includes(policy)) {
      throw badRequest(`propagationPolicy "${policy}" is invalid: use Background, Foreground or Orphan`);
    }
    const orphan = b.orphanDependents ?? (q.has('orphanDependents') ? q.get('orphanDependents') === 'true' : undefined);
    const dryRun = (Array.isArray(b.dryRun) && b.dryRun.includes('All')) || q.getAll('dryRun').includes('All');
    return { propagationPolicy: policy, orphanDependents: orphan, preconditions: b.preconditions, dryRun };
  }

  private scale(res: ServerResponse, r: ResourceRequest, name: string, method: string, body: unknown, contentType: string, dryRun: boolean): void {
    const { rt, ns } = r;
    const obj = this.store.get(rt, ns, name);
    const scale = rt.scale!;
    if (method === 'GET') return send(res, 200, toScale(obj, scale));
    let scaleBody = body;
    if (method === 'PATCH') {
      const type = patchType(contentType);
      const current = toScale(obj, scale);
      const patched = type === 'apply' || type === 'merge' || type === 'strategic' ? mergeScale(current, body) : undefined;
      scaleBody = patched ?? jsonPatch(current, body);
    } else if (method !== 'PUT') throw methodNotAllowed();
    const next = fromScale(obj, rt, scaleBody);
    const updated = this.store.update(rt, ns, name, next, { dryRun });
    send(res, 200, toScale(updated, scale));
  }

}

/** The fieldValidation query parameter (absent: Warn, the server's default). */
function fieldValidationOf(q: URLSearchParams): FieldValidation {
  const v = q.get('fieldValidation');
  if (v === null || v === '') return 'Warn';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw badRequest(`fieldValidation parameter: Unsupported value: "${v}": supported values: "Ignore", "Strict", "Warn"`);
}

function mergeScale(current: KObject, patch: unknown): unknown {
  if (!isObject(patch)) throw badRequest('scale patch must be an object');
  const spec = isObject(patch.spec) ? { ...current.spec, ...patch.spec } : current.spec;
  const md = isObject(patch.metadata) && patch.metadata.resourceVersion ? { ...current.metadata, resourceVersion: patch.metadata.resourceVersion } : current.metadata;
  return { ...current, metadata: md, spec };
}
