import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { describeError } from './kube-errors.js';
import type { Logger } from './log.js';

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
  resourceVersion?: string;
}

/**
 * Writes a core/v1 Event about obj, so `kubectl describe` tells what a component did to it. Best
 * effort: a lost Event never fails a reconcile or a CSI call.
 */
export async function recordEvent(
  core: CoreV1Api,
  log: Logger,
  component: string,
  obj: InvolvedObject,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
): Promise<void> {
  const now = new Date();
  const body: CoreV1Event = {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${obj.name}.${randomBytes(8).toString('hex')}`, namespace: obj.namespace },
    involvedObject: obj,
    reason,
    message: message.slice(0, 1024),
    type,
    source: { component },
    reportingComponent: component,
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
  try {
    await core.createNamespacedEvent({ namespace: obj.namespace, body });
  } catch (e) {
    log.warn({ err: describeError(e), reason, object: `${obj.kind}/${obj.namespace}/${obj.name}` }, 'could not record event');
  }
}
