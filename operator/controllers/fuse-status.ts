import type { V1Pod } from '@kubernetes/client-node';
import type { FuseMountStatus } from '../api/types.js';

/**
 * status.fuse of a Dataset from its mount pods (listed by label): one entry per pod, by node, with
 * what `kubectl describe dataset` needs to see a broken node at a glance.
 */
export function fuseStatus(pods: V1Pod[]): FuseMountStatus[] {
  return pods
    .filter((p) => !p.metadata?.deletionTimestamp)
    .map((p) => {
      const cs = p.status?.containerStatuses?.[0];
      const last = cs?.lastState?.terminated;
      const entry: FuseMountStatus = {
        node: p.spec?.nodeName ?? '',
        pod: `${p.metadata?.namespace}/${p.metadata?.name}`,
        phase: p.status?.phase ?? 'Pending',
        ready: cs?.ready ?? false,
        restarts: cs?.restartCount ?? 0,
        image: p.spec?.containers?.[0]?.image ?? '',
      };
      if (last) entry.lastTermination = `exit ${last.exitCode}${last.reason ? ` (${last.reason})` : ''}${last.message ? `: ${last.message.trim().split('\n').slice(-1)[0]!.slice(0, 200)}` : ''}`;
      return entry;
    })
    .sort((a, b) => a.node.localeCompare(b.node) || a.pod.localeCompare(b.pod));
}
