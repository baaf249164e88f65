import type { V1Pod } from '@kubernetes/client-node';
import type { LoadProgressStatus } from '../api/types.js';

export const percent = (done: number, total: number) => `${total > 0 ? Math.min(100, (done / total) * 100).toFixed(1) : '0.0'}%`;

/**
 * The loader's final summary: the last JSON line of `hoard load --json`, which the Job's shell
 * wrapper leaves as the container's termination message. Unknown shapes yield undefined.
 */
export function progressFromPods(pods: V1Pod[]): LoadProgressStatus | undefined {
  const messages = pods
    .flatMap((p) => p.status?.containerStatuses ?? [])
    .map((s) => ({ msg: s.state?.terminated?.message, at: s.state?.terminated?.finishedAt }))
    .filter((m): m is { msg: string; at: Date | undefined } => typeof m.msg === 'string' && m.msg.trim().startsWith('{'))
    .sort((a, b) => new Date(a.at ?? 0).getTime() - new Date(b.at ?? 0).getTime());
  for (const { msg } of messages.reverse()) {
    try {
      const j = JSON.parse(msg.trim().split('\n').at(-1)!) as Record<string, unknown>;
      const src = (typeof j.progress === 'object' && j.progress ? j.progress : j) as Record<string, unknown>;
      const n = (k: string) => (typeof src[k] === 'number' ? (src[k] as number) : Number(src[k] ?? 0) || 0);
      if (!('filesDone' in src) && !('bytesDone' in src)) continue;
      return {
        filesDone: n('filesDone'),
        filesTotal: n('filesTotal'),
        bytesDone: n('bytesDone'),
        bytesTotal: n('bytesTotal'),
        failures: n('failures'),
        percent: percent(n('bytesDone'), n('bytesTotal')),
        ...(Array.isArray(src.failedPaths) ? { failedPaths: (src.failedPaths as unknown[]).map(String).slice(0, 20) } : {}),
      };
    } catch {
      // not the summary line
    }
  }
  return undefined;
}
