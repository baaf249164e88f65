import type { Logger } from '../../lib/log.js';
import type { AdmissionRequest, JsonPatchOp } from './review.js';
import { reviewResponse } from './review.js';

/** What one mutator wants done to a pod, and what the user should be told. */
export interface Mutation {
  patch: JsonPatchOp[];
  warnings: string[];
}

export interface PodContext {
  /** The pod's namespace (from the request: a new pod's metadata may not name it yet). */
  namespace: string;
  dryRun: boolean;
  log: Logger;
}

/**
 * One step of the pod pipeline (mount propagation today; cache affinity can be the next). Each
 * mutator sees the pod as submitted and patches only fields it owns, so their patches compose by
 * concatenation and any order gives the same result. Mutators only read the cluster: the webhook
 * is registered with sideEffects: None, which makes dry-run requests safe.
 */
export interface PodMutator {
  name: string;
  mutate(pod: Record<string, unknown>, ctx: PodContext): Promise<Mutation>;
}

/** Kubernetes shows at most a few warnings well; each is kept short. */
const MAX_WARNINGS = 8;
const MAX_WARNING_CHARS = 256;

const isPodCreate = (r: AdmissionRequest) =>
  r.kind.group === '' && r.kind.version === 'v1' && r.kind.kind === 'Pod' && r.operation === 'CREATE' && !r.subResource;

/** Runs every mutator on a pod CREATE; anything else is allowed untouched. */
export async function reviewPod(mutators: PodMutator[], req: AdmissionRequest, log: Logger): Promise<Record<string, unknown>> {
  if (!isPodCreate(req)) return reviewResponse(req.uid, []);
  const namespace = req.namespace ?? (req.object.metadata as { namespace?: string } | undefined)?.namespace ?? '';
  const ctx: PodContext = { namespace, dryRun: req.dryRun, log };
  const patch: JsonPatchOp[] = [];
  const warnings: string[] = [];
  for (const m of mutators) {
    const out = await m.mutate(req.object, ctx);
    patch.push(...out.patch);
    warnings.push(...out.warnings);
    if (out.patch.length) log.info({ mutator: m.name, uid: req.uid, namespace, pod: podName(req.object), ops: out.patch.length, dryRun: req.dryRun }, 'pod mutated');
  }
  return reviewResponse(req.uid, patch, warnings.slice(0, MAX_WARNINGS).map((w) => (w.length > MAX_WARNING_CHARS ? `${w.slice(0, MAX_WARNING_CHARS - 3)}...` : w)));
}

function podName(pod: Record<string, unknown>): string | undefined {
  const md = pod.metadata as { name?: unknown; generateName?: unknown } | undefined;
  const n = md?.name ?? md?.generateName;
  return typeof n === 'string' ? n.slice(0, 253) : undefined;
}
