import { isAbsolute, normalize } from 'node:path';
import { clip, pathLimitProblem } from '../../lib/limits.js';
import { validateMountTable, type MountTable } from '../../lib/mounts.js';
import { invalidArgument } from './errors.js';
import type { VolumeCapabilityMsg } from './types.js';

/** The capability as the plugin records and compares it (mount flags are kept only as a hash). */
export interface Capability {
  accessMode: string;
  fsType: string;
  mountFlags: string[];
}

/** Everything the FUSE child needs, parsed from the PV's volumeAttributes (operator contract). */
export interface VolumeConfig {
  dataset: string;
  namespace: string;
  workers: { srv: string } | { static: string[] };
  mounts: MountTable;
  readOnly: boolean;
  kernelCache: boolean;
  directIO: boolean;
  attrTimeoutSec?: number;
  entryTimeoutSec?: number;
  replication?: number;
}

const ACCESS_MODES = new Set([
  'SINGLE_NODE_WRITER',
  'SINGLE_NODE_READER_ONLY',
  'MULTI_NODE_READER_ONLY',
  'MULTI_NODE_SINGLE_WRITER',
  'MULTI_NODE_MULTI_WRITER',
  'SINGLE_NODE_SINGLE_WRITER',
  'SINGLE_NODE_MULTI_WRITER',
]);
const READER_ONLY = new Set(['SINGLE_NODE_READER_ONLY', 'MULTI_NODE_READER_ONLY']);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_NAME = /^[A-Za-z0-9_]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const MEMBER = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?=[A-Za-z0-9.-]+:\d{1,5}$|^[A-Za-z0-9.-]+:\d{1,5}$/;
/** Keys kubelet adds itself (podInfoOnMount, ephemeral volumes); they are not ours to validate. */
const KUBELET_PREFIX = 'csi.storage.k8s.io/';
const CONTEXT_KEYS = new Set([
  'dataset',
  'namespace',
  'workers',
  'mounts',
  'readOnly',
  'subPath',
  'fuse.kernelCache',
  'fuse.attrTimeout',
  'fuse.entryTimeout',
  'fuse.directIO',
  'replication',
]);

export function requireVolumeId(id: string): string {
  if (!id) throw invalidArgument('volume_id is required');
  if (id.length > 256 || id.includes('\0')) throw invalidArgument('volume_id must be at most 256 characters without NUL');
  return id;
}

/** A path the CO hands over: required, absolute, normalised (trailing slashes and `.` removed). */
export function requirePath(value: string, field: string): string {
  if (!value) throw invalidArgument(`${field} is required`);
  const tooLong = pathLimitProblem(value);
  if (tooLong !== undefined) throw invalidArgument(`${field}: ${tooLong}`);
  if (!isAbsolute(value) || value.includes('\0')) throw invalidArgument(`${field}: "${clip(value)}" must be an absolute path`);
  const n = normalize(value);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** Hoard volumes are directories: a block capability, or none at all, is rejected. */
export function parseCapability(cap: VolumeCapabilityMsg | null | undefined): Capability {
  if (!cap) throw invalidArgument('volume_capability is required');
  if (cap.block || cap.access_type === 'block') {
    throw invalidArgument('volume_capability.block: Hoard volumes are file systems; request a mount volume (volumeMode: Filesystem)');
  }
  if (!cap.mount) throw invalidArgument('volume_capability.mount is required (access_type must be mount)');
  const mode = cap.access_mode?.mode ?? '';
  if (!ACCESS_MODES.has(mode)) throw invalidArgument(`volume_capability.access_mode.mode: "${mode || 'UNKNOWN'}" is not a supported access mode`);
  const fsType = cap.mount.fs_type ?? '';
  if (fsType && fsType !== 'fuse' && fsType !== 'fuse.hoard' && fsType !== 'hoard') {
    throw invalidArgument(`volume_capability.mount.fs_type: "${fsType}" is not supported; leave it empty (Hoard mounts FUSE)`);
  }
  return { accessMode: mode, fsType, mountFlags: [...(cap.mount.mount_flags ?? [])] };
}

export function isReaderOnly(cap: Capability): boolean {
  return READER_ONLY.has(cap.accessMode);
}

function bool(ctx: Record<string, string>, key: string): boolean {
  const v = ctx[key];
  if (v === undefined || v === '') return false;
  if (v === 'true' || v === 'false') return v === 'true';
  throw invalidArgument(`volume_context.${key}: "${v}" must be "true" or "false"`);
}

function seconds(ctx: Record<string, string>, key: string): number | undefined {
  const v = ctx[key];
  if (v === undefined || v === '') return undefined;
  const n = Number(v.replace(/s$/, ''));
  if (!Number.isFinite(n) || n < 0 || n > 86_400) throw invalidArgument(`volume_context.${key}: "${v}" must be a number of seconds between 0 and 86400, like "1" or "0.5"`);
  return n;
}

function parseWorkers(v: string | undefined): VolumeConfig['workers'] {
  if (!v) throw invalidArgument('volume_context.workers is required: "srv:<dns name>" or "static:id=host:port,..."');
  if (v.startsWith('srv:')) {
    const name = v.slice(4);
    if (!DNS_NAME.test(name) || name.length > 253) throw invalidArgument(`volume_context.workers: "${name}" is not a DNS name; use srv:_grpc._tcp.<dataset>-worker.<ns>.svc.cluster.local`);
    return { srv: name };
  }
  if (v.startsWith('static:')) {
    const list = v.slice(7).split(',').map((s) => s.trim()).filter(Boolean);
    if (list.length === 0) throw invalidArgument('volume_context.workers: "static:" needs at least one id=host:port');
    for (const m of list) {
      if (!MEMBER.test(m)) throw invalidArgument(`volume_context.workers: "${m}" must be id=host:port or host:port`);
    }
    return { static: list };
  }
  throw invalidArgument(`volume_context.workers: "${v}" must start with "srv:" or "static:"`);
}

/** Parses and checks the PV's volumeAttributes; every error names the key to fix. */
export function parseVolumeContext(ctx: Record<string, string>): VolumeConfig {
  for (const key of Object.keys(ctx)) {
    if (!CONTEXT_KEYS.has(key) && !key.startsWith(KUBELET_PREFIX)) {
      throw invalidArgument(`volume_context.${key}: unknown key; known keys are ${[...CONTEXT_KEYS].join(', ')}`);
    }
  }
  const dataset = ctx.dataset ?? '';
  if (!DNS_LABEL.test(dataset) || dataset.length > 63) throw invalidArgument(`volume_context.dataset: "${dataset}" must be a Dataset name (DNS label)`);
  const namespace = ctx.namespace ?? '';
  if (!DNS_LABEL.test(namespace) || namespace.length > 63) throw invalidArgument(`volume_context.namespace: "${namespace}" must be a namespace name (DNS label)`);
  const workers = parseWorkers(ctx.workers);
  if (!ctx.mounts) throw invalidArgument('volume_context.mounts is required: the JSON mount table {"mounts":[{"name","uri"}]}');
  let raw: unknown;
  try {
    raw = JSON.parse(ctx.mounts);
  } catch (err) {
    throw invalidArgument(`volume_context.mounts: not valid JSON (${(err as Error).message})`);
  }
  let mounts: MountTable;
  try {
    mounts = validateMountTable(raw);
  } catch (err) {
    throw invalidArgument(`volume_context.mounts: ${(err as Error).message}`);
  }
  let replication: number | undefined;
  if (ctx.replication !== undefined && ctx.replication !== '') {
    replication = Number(ctx.replication);
    if (!Number.isInteger(replication) || replication < 1 || replication > 16) {
      throw invalidArgument(`volume_context.replication: "${ctx.replication}" must be an integer from 1 to 16`);
    }
  }
  if (ctx.subPath !== undefined) parseSubPath(ctx.subPath);
  return {
    dataset,
    namespace,
    workers,
    mounts,
    readOnly: bool(ctx, 'readOnly'),
    kernelCache: bool(ctx, 'fuse.kernelCache'),
    directIO: bool(ctx, 'fuse.directIO'),
    attrTimeoutSec: seconds(ctx, 'fuse.attrTimeout'),
    entryTimeoutSec: seconds(ctx, 'fuse.entryTimeout'),
    replication,
  };
}

/**
 * A sub-directory of the volume to publish: relative, no `..`, no NUL. Returns '' for the root.
 * Escapes through symlinks are checked again against the real path at publish time.
 */
export function parseSubPath(v: string | undefined): string {
  if (v === undefined || v === '' || v === '/' || v === '.') return '';
  if (v.includes('\0')) throw invalidArgument('volume_context.subPath: must not contain NUL');
  const parts = v.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw invalidArgument(`volume_context.subPath: "${v}" must not contain ".."; it names a directory inside the volume, like "train/images"`);
  return parts.join('/');
}

/** Mount names a secret key may be scoped to: `<mountName>.<key>`. */
const SECRET_KEYS = new Set(['accessKeyId', 'secretAccessKey', 'sessionToken']);

/**
 * Splits NodeStageVolume secrets into per-mount credential sets. Unscoped keys apply to every s3
 * mount; `<mount>.<key>` to that mount only. Error messages name keys, never values.
 */
export function parseSecrets(secrets: Record<string, string>, mounts: MountTable): Map<string, Record<string, string>> {
  const names = new Set(mounts.mounts.map((m) => m.name));
  const shared: Record<string, string> = {};
  const scoped = new Map<string, Record<string, string>>();
  for (const [key, value] of Object.entries(secrets)) {
    const dot = key.lastIndexOf('.');
    const mount = dot > 0 ? key.slice(0, dot) : '';
    const field = dot > 0 ? key.slice(dot + 1) : key;
    if (!SECRET_KEYS.has(field)) throw invalidArgument(`secrets.${key}: unknown key; use accessKeyId, secretAccessKey, sessionToken or <mount>.<that key>`);
    if (mount && !names.has(mount)) throw invalidArgument(`secrets.${key}: no mount named "${mount}" in volume_context.mounts`);
    if (typeof value !== 'string' || value === '') throw invalidArgument(`secrets.${key}: must not be empty`);
    if (mount) scoped.set(mount, { ...scoped.get(mount), [field]: value });
    else shared[field] = value;
  }
  const out = new Map<string, Record<string, string>>();
  for (const m of mounts.mounts) {
    const isS3 = m.uri.startsWith('s3:');
    const creds = { ...(isS3 ? shared : {}), ...scoped.get(m.name) };
    if (Object.keys(creds).length === 0) continue;
    if (!creds.accessKeyId || !creds.secretAccessKey) {
      throw invalidArgument(`secrets: mount "${m.name}" needs both accessKeyId and secretAccessKey (got ${Object.keys(creds).sort().join(', ')})`);
    }
    out.set(m.name, creds);
  }
  return out;
}

/** The request with secret values replaced, for logging. */
export function redactRequest(req: unknown): unknown {
  if (!req || typeof req !== 'object') return req;
  const out: Record<string, unknown> = { ...(req as Record<string, unknown>) };
  if (out.secrets && typeof out.secrets === 'object') {
    out.secrets = Object.fromEntries(Object.keys(out.secrets as object).map((k) => [k, '[redacted]']));
  }
  const cap = out.volume_capability as VolumeCapabilityMsg | null | undefined;
  if (cap?.mount?.mount_flags?.length) {
    out.volume_capability = { ...cap, mount: { ...cap.mount, mount_flags: ['[redacted]'] } };
  }
  return out;
}
