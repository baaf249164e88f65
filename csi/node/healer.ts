import type { Logger } from '../../lib/log.js';
import type { VolumeManager } from './volumes.js';

/**
 * Walks every staged volume every few seconds and repairs what broke: a FUSE child that died, a
 * mount that answers ENOTCONN, bind mounts that still point at a dead mount. The first pass runs
 * at startup, which is how a restarted plugin adopts live children and replaces dead ones.
 */
export class Healer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly volumes: VolumeManager,
    private readonly logger: Logger,
    private readonly intervalMs = 2000,
  ) {}

  /** One pass over all volumes; volumes busy with a CSI call are left to that call. */
  async pass(): Promise<void> {
    for (const record of this.volumes.state.all()) {
      if (this.stopped) return;
      if (this.volumes.isBusy(record.volumeId)) continue;
      await this.volumes
        .withVolume(record.volumeId, async () => {
          // Unstaged while we waited for the lock.
          if (this.volumes.state.get(record.volumeId) !== record) return;
          await this.volumes.heal(record, 'periodic check');
        })
        .catch((err: unknown) => this.logger.error({ volumeId: record.volumeId, err: (err as Error).message }, 'volume check failed'));
    }
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.running = this.pass().finally(() => {
        this.running = undefined;
        if (!this.stopped) this.timer = setTimeout(tick, this.intervalMs);
      });
    };
    this.timer = setTimeout(tick, this.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
