import type { KObject, WatchEventType } from './types.js';

/** One committed change, kept in a bounded per-resource history for watches that resume from a resourceVersion. */
export interface HistoryEvent {
  type: WatchEventType;
  rv: number;
  object: KObject;
  old?: KObject;
}

export interface Watcher {
  filter(obj: KObject): boolean;
  send(type: WatchEventType, obj: KObject): void;
  /** End the stream (client sees a normal end of response and re-watches). */
  close(): void;
}

class History {
  events: HistoryEvent[] = [];
  /** rv of the newest event no longer retained; a watch from an older rv gets 410 Gone. */
  compactedRv = 0;
}

/**
 * Fan-out of committed changes to open watches, and the history behind `?watch&resourceVersion=N`.
 * History is per storage bucket, like kube-apiserver's per-resource watch cache.
 */
export class WatchHub {
  private readonly histories = new Map<string, History>();
  private readonly watchers = new Map<string, Set<Watcher>>();

  constructor(private readonly capacity: number) {}

  private history(key: string): History {
    let h = this.histories.get(key);
    if (!h) this.histories.set(key, (h = new History()));
    return h;
  }

  publish(key: string, ev: HistoryEvent): void {
    const h = this.history(key);
    h.events.push(ev);
    if (h.events.length > this.capacity * 1.25) {
      const drop = h.events.length - this.capacity;
      h.compactedRv = h.events[drop - 1].rv;
      h.events = h.events.slice(drop);
    }
    const set = this.watchers.get(key);
    if (set) for (const w of set) dispatch(w, ev);
  }

  /** Events after `rv`, or 'expired' when the history no longer reaches back that far. */
  since(key: string, rv: number): HistoryEvent[] | 'expired' {
    const h = this.history(key);
    if (rv < h.compactedRv) return 'expired';
    let lo = 0;
    let hi = h.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (h.events[mid].rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    return h.events.slice(lo);
  }

  /** Forget history (tests of 410 Gone use this to simulate compaction). */
  compact(key: string, upToRv: number): void {
    const h = this.history(key);
    h.events = h.events.filter((e) => e.rv > upToRv);
    h.compactedRv = Math.max(h.compactedRv, upToRv);
  }

  add(key: string, w: Watcher): () => void {
    let set = this.watchers.get(key);
    if (!set) this.watchers.set(key, (set = new Set()));
    set.add(w);
    return () => {
      set.delete(w);
    };
  }

  /** End every open watch, as an API-server restart or a load balancer timeout would. */
  closeAll(): void {
    for (const set of this.watchers.values()) for (const w of [...set]) w.close();
  }

  watcherCount(): number {
    let n = 0;
    for (const s of this.watchers.values()) n += s.size;
    return n;
  }
}

/** Deliver one change, translating it for a filtered watch the way the real server does. */
export function dispatch(w: Watcher, ev: HistoryEvent): void {
  if (ev.type === 'MODIFIED') {
    const now = w.filter(ev.object);
    const before = ev.old ? w.filter(ev.old) : now;
    if (now && before) w.send('MODIFIED', ev.object);
    else if (now) w.send('ADDED', ev.object);
    else if (before) w.send('DELETED', ev.object);
    return;
  }
  if (w.filter(ev.object)) w.send(ev.type, ev.object);
}
