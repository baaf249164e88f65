import { status } from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { CsiError, invalidArgument } from '../server/errors.js';
import type { VolumeCapabilityMsg } from '../server/types.js';
import { parseCapability, parseSubPath } from '../server/validation.js';

/** What CreateVolume's parameters ask for: a read-only view of one Dataset (or a folder of it). */
export interface ViewRequest {
  dataset: string;
  datasetNamespace: string;
  subPath: string;
  /** The claim's namespace and name (external-provisioner --extra-create-metadata), when sent. */
  pvcNamespace?: string;
  pvcName?: string;
}

export interface CapacityRequest {
  requiredBytes: number;
  limitBytes: number;
}

/** Keys external-provisioner adds with --extra-create-metadata: informational, and checked. */
export const PVC_NAMESPACE_KEY = 'csi.storage.k8s.io/pvc/namespace';
export const PVC_NAME_KEY = 'csi.storage.k8s.io/pvc/name';
const PV_NAME_KEY = 'csi.storage.k8s.io/pv/name';
const KNOWN_KEYS = new Set(['dataset', 'datasetNamespace', 'subPath', PVC_NAMESPACE_KEY, PVC_NAME_KEY, PV_NAME_KEY]);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_NAME = 128;
const MAX_SUBPATH = 1024;
/** Control characters the spec bans in a CreateVolume name. */
// eslint-disable-next-line no-control-regex
const BANNED_NAME_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;

/** Modes a read-only view can honour; anything that writes is refused. */
const READ_ONLY_MODES = new Set(['SINGLE_NODE_READER_ONLY', 'MULTI_NODE_READER_ONLY']);

export function requireName(name: string): string {
  if (!name) throw invalidArgument('name is required');
  if (name.length > MAX_NAME || BANNED_NAME_CHARS.test(name)) throw invalidArgument(`name must be at most ${MAX_NAME} characters without control characters`);
  return name;
}

/** The volume id is a pure function of the name, so a retried CreateVolume always yields the same id. */
export function volumeIdFor(name: string): string {
  return `view-${createHash('sha256').update(name).digest('hex').slice(0, 40)}`;
}

/**
 * Each capability must be a mount (never block) with a read-only access mode: the volume is a
 * read-only view of a cache. Errors are INVALID_ARGUMENT and name the offending entry.
 */
export function checkCapabilities(caps: VolumeCapabilityMsg[] | null | undefined, field = 'volume_capabilities'): void {
  if (!caps || caps.length === 0) throw invalidArgument(`${field} is required (at least one)`);
  caps.forEach((cap, i) => {
    const problem = capabilityProblem(cap);
    if (problem) throw invalidArgument(`${field}[${i}]: ${problem}`);
  });
}

/** Why a capability cannot be served, or undefined when it can. */
export function capabilityProblem(cap: VolumeCapabilityMsg | null | undefined): string | undefined {
  let parsed;
  try {
    parsed = parseCapability(cap);
  } catch (err) {
    return (err as Error).message;
  }
  if (!READ_ONLY_MODES.has(parsed.accessMode)) {
    return `access mode ${parsed.accessMode} writes, but a Hoard volume is a read-only view of a dataset; request ReadOnlyMany (MULTI_NODE_READER_ONLY) or SINGLE_NODE_READER_ONLY`;
  }
  return undefined;
}

function dnsLabel(params: Record<string, string>, key: string): string {
  const v = params[key] ?? '';
  if (!v) throw invalidArgument(`parameters.${key} is required: the ${key === 'dataset' ? 'name of the Dataset' : 'namespace of the Dataset'} to share`);
  if (v.length > 63 || !DNS_LABEL.test(v)) throw invalidArgument(`parameters.${key}: "${v.slice(0, 80)}" must be a DNS label (lower-case letters, digits, "-")`);
  return v;
}

export function parseParameters(params: Record<string, string>): ViewRequest {
  for (const key of Object.keys(params)) {
    if (!KNOWN_KEYS.has(key)) throw invalidArgument(`parameters.${key.slice(0, 100)}: unknown key; StorageClass parameters are dataset, datasetNamespace and optionally subPath`);
  }
  const dataset = dnsLabel(params, 'dataset');
  const datasetNamespace = dnsLabel(params, 'datasetNamespace');
  const rawSub = params.subPath ?? '';
  if (rawSub.length > MAX_SUBPATH) throw invalidArgument(`parameters.subPath: at most ${MAX_SUBPATH} characters`);
  if (rawSub.startsWith('/')) throw invalidArgument(`parameters.subPath: "${rawSub}" must be relative to the dataset root, like "train/images"`);
  let subPath: string;
  try {
    subPath = parseSubPath(rawSub);
  } catch (err) {
    throw invalidArgument((err as Error).message.replace('volume_context.subPath', 'parameters.subPath'));
  }
  const view: ViewRequest = { dataset, datasetNamespace, subPath };
  if (params[PVC_NAMESPACE_KEY] !== undefined) view.pvcNamespace = dnsLabel(params, PVC_NAMESPACE_KEY);
  if (params[PVC_NAME_KEY] !== undefined) {
    const claim = params[PVC_NAME_KEY];
    if (!claim || claim.length > 253 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(claim)) throw invalidArgument(`parameters.${PVC_NAME_KEY}: "${claim.slice(0, 80)}" is not a PVC name`);
    view.pvcName = claim;
  }
  if (params[PV_NAME_KEY] !== undefined && (params[PV_NAME_KEY].length > 253 || !params[PV_NAME_KEY])) throw invalidArgument(`parameters.${PV_NAME_KEY}: must be a PV name (at most 253 characters)`);
  return view;
}

const isSize = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** Both bounds are optional (0 = unset); negative or unsafe numbers are INVALID_ARGUMENT. */
export function parseCapacity(range: { required_bytes?: number; limit_bytes?: number } | null | undefined): CapacityRequest {
  const requiredBytes = range?.required_bytes ?? 0;
  const limitBytes = range?.limit_bytes ?? 0;
  if (!isSize(requiredBytes)) throw invalidArgument('capacity_range.required_bytes must be a non-negative integer below 2^53');
  if (!isSize(limitBytes)) throw invalidArgument('capacity_range.limit_bytes must be a non-negative integer below 2^53');
  if (limitBytes > 0 && requiredBytes > limitBytes) {
    throw new CsiError(status.OUT_OF_RANGE, `capacity_range: required_bytes ${requiredBytes} is above limit_bytes ${limitBytes}`);
  }
  return { requiredBytes, limitBytes };
}

/**
 * A view has no size of its own (it shows the whole dataset, however big); it reports the size
 * the claim asked for, so the PV satisfies its claim. Unknown (0) when nothing was asked.
 */
export function capacityFor(c: CapacityRequest): number {
  return c.requiredBytes || c.limitBytes;
}

/** Whether an existing volume of `capacity` bytes satisfies a (repeated) request's range. */
export function capacityFits(capacity: number, c: CapacityRequest): boolean {
  if (c.requiredBytes && capacity < c.requiredBytes) return false;
  if (c.limitBytes && capacity > c.limitBytes) return false;
  return true;
}
