import type { V1Pod } from '@kubernetes/client-node';

const MAX_REASON = 300;

const clip = (s: string): string => (s.length > MAX_REASON ? `${s.slice(0, MAX_REASON)}…` : s);

function isReady(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/**
 * The workers the clients hash over: ready pods that are not terminating, as the headless
 * Service's endpoints (and so its SRV records) list them; by name, sorted.
 */
export function ringMembers(pods: V1Pod[]): string[] {
  return pods.filter((p) => !p.metadata?.deletionTimestamp && isReady(p)).map((p) => p.metadata!.name!).sort();
}

/** Worker pods that are not ready, in ordinal order (the ones whose reason the Dataset reports). */
export function unreadyPods(pods: V1Pod[]): V1Pod[] {
  return pods.filter((p) => !p.metadata?.deletionTimestamp && !isReady(p)).sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '', 'en', { numeric: true }));
}

/**
 * Why one worker pod is not ready, in the words of whoever knows: the scheduler (Unschedulable),
 * the kubelet (ImagePullBackOff, CrashLoopBackOff with the last exit), or the worker itself (its
 * /readyz reason, `workerReason`). Kubernetes' own texts, so `kubectl describe` tells the same story.
 */
export function podNotReadyReason(pod: V1Pod, workerReason?: string): string {
  const st = pod.status;
  const scheduled = st?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False') return clip(`not scheduled: ${scheduled.reason ?? 'Unschedulable'}${scheduled.message ? `: ${scheduled.message}` : ''}`);
  const cs = st?.containerStatuses?.find((c) => c.name === 'worker') ?? st?.containerStatuses?.[0];
  const waiting = cs?.state?.waiting;
  const last = cs?.lastState?.terminated;
  if (waiting && waiting.reason !== 'ContainerCreating') {
    const exit = last ? ` (last exit ${last.exitCode}${last.reason ? ` ${last.reason}` : ''}${last.message ? `: ${last.message.trim()}` : ''})` : '';
    return clip(`${waiting.reason ?? 'Waiting'}${waiting.message ? `: ${waiting.message}` : ''}${exit}`);
  }
  if (cs?.state?.terminated) {
    const t = cs.state.terminated;
    return clip(`container exited ${t.exitCode}${t.reason ? ` ${t.reason}` : ''}${t.message ? `: ${t.message.trim()}` : ''}`);
  }
  if (workerReason) return clip(workerReason.startsWith('not ready') ? workerReason : `not ready: ${workerReason}`);
  if (cs?.state?.running) return 'running, readiness probe not passing yet';
  if (waiting?.reason === 'ContainerCreating') return clip(`ContainerCreating${waiting.message ? `: ${waiting.message}` : ''}`);
  return clip(`pod ${st?.phase ?? 'Pending'}`);
}

/** "w-0: <reason>; w-1: <reason>" for up to `max` unready pods (the rest counted). */
export function describeUnready(pods: V1Pod[], workerReasons: Map<string, string>, max = 3): string {
  const shown = pods.slice(0, max).map((p) => `${p.metadata?.name}: ${podNotReadyReason(p, workerReasons.get(p.metadata?.name ?? ''))}`);
  const more = pods.length > max ? `; and ${pods.length - max} more` : '';
  return `${shown.join('; ')}${more}`;
}
