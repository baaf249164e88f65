import type { HoardVolumeResolver } from './hoard-volumes.js';
import type { Mutation, PodContext, PodMutator } from './pipeline.js';
import type { JsonPatchOp } from './review.js';

export const HOST_TO_CONTAINER = 'HostToContainer';

const isObject = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/**
 * Adds `mountPropagation: HostToContainer` to every volumeMount of a Hoard volume, so a FUSE
 * mount that the node plugin re-binds after a mount pod restart reaches the running container.
 * Covers containers and initContainers (an init container that copies or indexes a dataset, and
 * a sidecar init container that lives as long as the pod, read as long as any container).
 * Ephemeral containers are not there on CREATE (they come later through a subresource this
 * webhook does not receive). A mountPropagation the user set, whatever its value, is kept.
 */
export class MountPropagationMutator implements PodMutator {
  readonly name = 'mount-propagation';

  constructor(private readonly resolver: HoardVolumeResolver) {}

  async mutate(pod: Record<string, unknown>, ctx: PodContext): Promise<Mutation> {
    const spec = isObject(pod.spec) ? pod.spec : {};
    const targets: { path: string; volume: string }[] = [];
    for (const field of ['containers', 'initContainers'] as const) {
      list(spec[field]).forEach((c, i) => {
        if (!isObject(c)) return;
        list(c.volumeMounts).forEach((m, j) => {
          // null is how a client says "unset"; the API server treats it so too.
          if (isObject(m) && typeof m.name === 'string' && (m.mountPropagation === undefined || m.mountPropagation === null)) {
            targets.push({ path: `/spec/${field}/${i}/volumeMounts/${j}/mountPropagation`, volume: m.name });
          }
        });
      });
    }
    if (targets.length === 0) return { patch: [], warnings: [] };
    // Only volumes that some mount would change are looked up.
    const wanted = new Set(targets.map((t) => t.volume));
    const volumes = list(spec.volumes).filter((v): v is Record<string, unknown> => isObject(v) && typeof v.name === 'string' && wanted.has(v.name));
    const { hoard, warnings } = await this.resolver.resolve(ctx.namespace, volumes);
    const patch: JsonPatchOp[] = targets.filter((t) => hoard.has(t.volume)).map((t) => ({ op: 'add', path: t.path, value: HOST_TO_CONTAINER }));
    return { patch, warnings };
  }
}
