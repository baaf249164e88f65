import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Selector } from './selectors.js';
import { asVersion, type Store } from './store.js';
import type { KObject, ResourceType } from './types.js';
import { dispatch, type Watcher } from './watch.js';

export interface WatchRequest {
  rt: ResourceType;
  ns?: string;
  filter: Selector;
  query: URLSearchParams;
  bookmarkIntervalMs: number;
}

/** Stored objects are immutable, so each is serialized once however many watches send it. */
const cache = new WeakMap<KObject, string>();
function serialized(obj: KObject): string {
  let s = cache.get(obj);
  if (s === undefined) cache.set(obj, (s = JSON.stringify(obj)));
  return s;
}

function expiredStatus(message: string): KObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Expired', code: 410 };
}

/**
 * Serve one watch: newline-delimited JSON events on a chunked 200 response, starting with
 * synthetic ADDED events (no resourceVersion, "0", or sendInitialEvents) or the retained history
 * after the given resourceVersion (410 Expired as an ERROR event when it is too old).
 */
export function openWatch(store: Store, _req: IncomingMessage, res: ServerResponse, w: WatchRequest): void {
  const { rt, ns, query } = w;
  const inNs = rt.namespaced && ns ? (o: KObject) => o.metadata.namespace === ns : undefined;
  const filter: Selector = inNs ? (o) => inNs(o) && w.filter(o) : w.filter;
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
  let closed = false;
  const write = (type: string, object: KObject) => {
    if (!closed) res.write(`{"type":"${type}","object":${serialized(object)}}\n`);
  };
  const bookmark = (annotations?: Record<string, string>) =>
    write('BOOKMARK', { kind: rt.kind, apiVersion: rt.apiVersion, metadata: { resourceVersion: store.currentResourceVersion(), ...(annotations ? { annotations } : {}) } });

  const rvParam = query.get('resourceVersion') ?? '';
  const bookmarks = query.get('allowWatchBookmarks') === 'true';
  const sendInitial = query.get('sendInitialEvents') === 'true' || rvParam === '' || rvParam === '0';
  const watcher: Watcher = { filter, send: (type, obj) => write(type, asVersion(obj, rt)), close: () => finish() };

  if (sendInitial) {
    for (const obj of store.list(rt, ns, filter)) write('ADDED', obj);
    if (bookmarks && query.get('sendInitialEvents') === 'true') bookmark({ 'k8s.io/initial-events-end': 'true' });
  } else {
    const since = Number(rvParam);
    const events = Number.isInteger(since) ? store.hub.since(rt.storageKey, since) : 'invalid';
    if (events === 'expired' || events === 'invalid') {
      const msg = events === 'expired' ? `too old resource version: ${rvParam} (${store.currentResourceVersion()})` : `invalid resource version "${rvParam}"`;
      write('ERROR', events === 'expired' ? expiredStatus(msg) : { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: msg, reason: 'BadRequest', code: 400 });
      res.end();
      return;
    }
    for (const ev of events) dispatch(watcher, ev);
  }

  const off = store.hub.add(rt.storageKey, watcher);
  const timers: NodeJS.Timeout[] = [];
  if (bookmarks) timers.push(setInterval(() => bookmark(), w.bookmarkIntervalMs));
  const timeoutSeconds = Number(query.get('timeoutSeconds') ?? 0);
  if (timeoutSeconds > 0) timers.push(setTimeout(() => finish(), timeoutSeconds * 1000));
  const finish = () => {
    if (closed) return;
    closed = true;
    off();
    for (const t of timers) clearTimeout(t);
    res.end();
  };
  // Not req 'close': for a bodiless GET it fires as soon as the request is read, not on disconnect.
  res.on('close', finish);
}
