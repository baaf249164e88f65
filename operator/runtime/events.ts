import type { CoreV1Event } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../lib/log.js';
import type { HoardResource } from '../api/types.js';
import type { KubeClients } from '../kube/clients.js';
import { describeError } from '../kube/errors.js';

export type EventType = 'Normal' | 'Warning';

/** core/v1 Events on our objects, so `kubectl describe` tells the story of each transition. */
export class EventRecorder {
  constructor(
    private readonly k: KubeClients,
    private readonly log: Logger,
    private readonly component = 'hoard-operator',
  ) {}

  async record(obj: HoardResource, type: EventType, reason: string, message: string): Promise<void> {
    const now = new Date();
    const body: CoreV1Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${obj.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: obj.metadata.namespace },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        namespace: obj.metadata.namespace,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
      },
      reason,
      message,
      type,
      source: { component: this.component },
      reportingComponent: this.component,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      await this.k.core.createNamespacedEvent({ namespace: obj.metadata.namespace, body });
    } catch (e) {
      // An event is best effort: losing one must not fail the reconcile.
      this.log.warn({ err: describeError(e), reason }, 'could not record event');
    }
  }
}
