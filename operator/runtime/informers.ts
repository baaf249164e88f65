import { makeInformer, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import type { KubeClients } from '../kube/clients.js';

export interface WatchSpec<T extends KubernetesObject> {
  name: string;
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  /** Map a changed object to the reconcile keys it affects. */
  keys: (obj: T) => string[];
  /**
   * Ignore updates that only touch status (our own status writes would otherwise wake the
   * reconcile again): only generation, deletion and finalizer changes count.
   */
  specOnly?: boolean;
}

function specFingerprint(o: KubernetesObject): string {
  const m = o.metadata ?? {};
  return `${m.generation}|${String(m.deletionTimestamp ?? '')}|${(m.finalizers ?? []).join(',')}`;
}

/**
 * Watches via client-node informers. Objects are only used to wake reconciles (level-based:
 * the reconcile reads fresh state), and a broken watch is restarted after a short pause.
 */
export function startWatch<T extends KubernetesObject>(k: KubeClients, spec: WatchSpec<T>, enqueue: (key: string) => void, log: Logger): { stop(): Promise<void> } {
  const informer = makeInformer<T>(k.kubeConfig, spec.path, spec.list, spec.labelSelector);
  let stopped = false;
  const seen = new Map<string, string>();
  const onObject = (obj: T) => {
    for (const key of spec.keys(obj)) enqueue(key);
  };
  informer.on('add', (obj) => {
    if (spec.specOnly) seen.set(nsName(obj), specFingerprint(obj));
    onObject(obj);
  });
  informer.on('update', (obj) => {
    if (spec.specOnly) {
      const fp = specFingerprint(obj);
      if (seen.get(nsName(obj)) === fp) return;
      seen.set(nsName(obj), fp);
    }
    onObject(obj);
  });
  informer.on('delete', (obj) => {
    seen.delete(nsName(obj));
    onObject(obj);
  });
  informer.on('error', (err: unknown) => {
    if (stopped) return;
    log.warn({ watch: spec.name, err: (err as Error)?.message ?? String(err) }, 'watch failed; restarting');
    setTimeout(() => {
      if (!stopped) informer.start().catch(() => undefined);
    }, 1000);
  });
  informer.start().catch((err: unknown) => log.warn({ watch: spec.name, err: (err as Error).message }, 'watch start failed'));
  return {
    async stop() {
      stopped = true;
      await informer.stop();
    },
  };
}

export const nsName = (o: KubernetesObject) => `${o.metadata?.namespace}/${o.metadata?.name}`;
