import { badRequest } from './errors.js';
import { labelSelectorToString } from './selectors.js';
import type { KObject, ResourceType, ScaleSpec } from './types.js';
import { isObject, readPath, writePath } from './util.js';

/** The autoscaling/v1 Scale view of an object with a scale subresource. */
export function toScale(obj: KObject, scale: ScaleSpec): KObject {
  const sel = scale.labelSelectorPath ? readPath(obj, scale.labelSelectorPath) : undefined;
  const md = obj.metadata;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name: md.name, namespace: md.namespace, uid: md.uid, resourceVersion: md.resourceVersion, creationTimestamp: md.creationTimestamp },
    spec: { replicas: Number(readPath(obj, scale.specReplicasPath) ?? 0) },
    status: {
      replicas: Number(readPath(obj, scale.statusReplicasPath) ?? 0),
      ...(sel !== undefined ? { selector: typeof sel === 'string' ? sel : labelSelectorToString(sel) } : {}),
    },
  };
}

/** Apply a Scale body's spec.replicas to the object (the caller stores it as a normal update). */
export function fromScale(obj: KObject, rt: ResourceType, scaleBody: unknown): KObject {
  if (!isObject(scaleBody) || !isObject(scaleBody.spec) || typeof scaleBody.spec.replicas !== 'number') {
    throw badRequest(`Scale for ${rt.plural} "${obj.metadata.name}" needs spec.replicas (a number)`);
  }
  const next = writePath(obj, rt.scale!.specReplicasPath, scaleBody.spec.replicas);
  const rv = isObject(scaleBody.metadata) ? scaleBody.metadata.resourceVersion : undefined;
  return { ...next, metadata: { ...obj.metadata, ...(rv ? { resourceVersion: rv } : {}) } };
}
