// `hoard up` keeps its workers running: one that dies is started again on the same ports (the
// mount's static worker list names them), so a crash costs a few failed-over reads, not the mount.
import type { Logger } from '../../lib/log.js';
import type { Child } from './up-children.js';

export interface RestartPolicy {
  /** First wait before a restart; doubles per failure up to maxMs. */
  initialMs: number;
  maxMs: number;
  /** A worker that ran this long is healthy again: the next crash waits initialMs. */
  resetAfterMs: number;
}

export const DEFAULT_RESTART: RestartPolicy = { initialMs: 500, maxMs: 30_000, resetAfterMs: 60_000 };

/**
 * Watches slot `i` of `workers` and restarts its child whenever it exits while `stopping()` is
 * false, with exponential backoff. `start` gets the ready line of the child it replaces, so the
 * new one can take the same ports; it must reject when the child does not come up.
 */
export async function keepWorkerAlive(
  workers: Child[],
  i: number,
  start: (previous: Child) => Promise<Child>,
  stopping: () => boolean,
  logger: Logger,
  onRestart: (child: Child) => void,
  policy: RestartPolicy = DEFAULT_RESTART,
): Promise<void> {
  let backoff = policy.initialMs;
  for (;;) {
    const child = workers[i]!;
    const startedAt = Date.now();
    const code = await child.exited;
    if (stopping()) return;
    if (Date.now() - startedAt >= policy.resetAfterMs) backoff = policy.initialMs;
    logger.warn({ worker: child.name, code, workerPid: child.proc.pid, restartInMs: backoff, log: child.logFile }, 'worker exited unexpectedly; restarting it');
    for (;;) {
      await new Promise((r) => setTimeout(r, backoff));
      const wait = backoff;
      backoff = Math.min(backoff * 2, policy.maxMs);
      if (stopping()) return;
      try {
        const next = await start(child);
        workers[i] = next;
        logger.info({ worker: next.name, workerPid: next.proc.pid, afterMs: wait }, 'worker restarted');
        onRestart(next);
        break;
      } catch (err) {
        logger.error({ worker: child.name, err: (err as Error).message, retryInMs: backoff }, 'worker restart failed; trying again');
      }
    }
  }
}
