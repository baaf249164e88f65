import { recordEvent } from '../../lib/kube-events.js';
import type { Logger } from '../../lib/log.js';
import type { HoardResource } from '../api/types.js';
import type { KubeClients } from '../kube/clients.js';

export type EventType = 'Normal' | 'Warning';

/** core/v1 Events on our objects, so `kubectl describe` tells the story of each transition. */
export class EventRecorder {
  constructor(
    private readonly k: KubeClients,
    private readonly log: Logger,
    private readonly component = 'hoard-operator',
  ) {}

  async record(obj: HoardResource, type: EventType, reason: string, message: string): Promise<void> {
    const { name, namespace, uid, resourceVersion } = obj.metadata;
    await recordEvent(this.k.core, this.log, this.component, { apiVersion: obj.apiVersion, kind: obj.kind, name, namespace, uid, resourceVersion }, type, reason, message);
  }
}
