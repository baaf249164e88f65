import type { V1OwnerReference } from '@kubernetes/client-node';
import type { HoardResource } from '../api/types.js';

/** The controller ownerReference; garbage collection removes dependents when the owner goes. */
export function controllerRef(owner: HoardResource): V1OwnerReference {
  if (!owner.metadata.uid) throw new Error(`${owner.kind} ${owner.metadata.name}: has no uid yet (not read from the API server)`);
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}
