import { posix } from 'node:path';
import { clip, pathLimitProblem } from './limits.js';

/**
 * Which node paths a Dataset's file:// mount may name. A file:// mount becomes a read-only hostPath
 * volume of pods the operator (and, in pod mode, the CSI node plugin) creates with its own rights,
 * so whoever may create a Dataset could otherwise read any folder of every node. The cluster admin
 * names the folders that hold data (an allow-list of prefixes, default /srv: the FHS place for data
 * a machine serves, holding no kubelet state); folders that hold node or other tenants' state are
 * refused whatever the list says. The operator and the node plugin apply this same rule.
 */

/** The allow-list when the admin sets none. */
export const DEFAULT_HOST_PATH_ALLOW = ['/srv'];
/** The kubelet's default root directory; a cluster's own (the chart's csi.kubeletDir) is refused too. */
export const DEFAULT_KUBELET_DIR = '/var/lib/kubelet';
/** An allow-list longer than this is a mistake, not a policy. */
export const MAX_ALLOW_ENTRIES = 64;

/** A folder no Dataset may read, with the reason a user is told. */
export interface DeniedPath {
  path: string;
  why: string;
}

const SYSTEM_DENIED: DeniedPath[] = [
  { path: '/etc', why: "the node's configuration and credentials" },
  { path: '/proc', why: 'kernel and process interfaces' },
  { path: '/sys', why: 'kernel interfaces' },
  { path: '/dev', why: 'device files' },
  { path: '/var/run', why: 'runtime sockets and state (the container runtime\'s among them)' },
  { path: '/run', why: 'runtime sockets and state (the container runtime\'s among them)' },
  { path: '/root', why: "root's home directory" },
];

const KUBELET_WHY = "the kubelet's directory: other pods' volumes, Secrets and service account tokens";

export interface HostPathPolicy {
  /** Normalised prefixes; empty = no host path is allowed. */
  allow: string[];
  /** Always refused (system folders, the kubelet's directories). */
  denied: DeniedPath[];
}

/**
 * A path as the kernel would resolve it lexically: absolute, `.`/`..` resolved, no `//`, no trailing
 * slash (except "/"). Throws (naming `field`) on a relative path, a NUL or a path over the limits.
 */
export function normaliseHostPath(path: string, field: string): string {
  const tooLong = pathLimitProblem(path);
  if (tooLong !== undefined) throw new Error(`${field}: ${tooLong}`);
  if (!path.startsWith('/') || path.includes('\0')) throw new Error(`${field}: "${clip(path, 200)}" must be an absolute path, like /srv/data`);
  const n = posix.normalize(path);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

/** Whether `path` is `dir` or lies under it (both normalised). */
export function isAtOrUnder(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(`${dir}/`);
}

/** The folders refused whatever the allow-list says, for the given kubelet directories. */
export function deniedPaths(kubeletDirs: string[] = []): DeniedPath[] {
  const kubelet = [...new Set([DEFAULT_KUBELET_DIR, ...kubeletDirs].map((d) => normaliseHostPath(d, 'kubelet directory')))];
  return [...kubelet.map((path) => ({ path, why: KUBELET_WHY })), ...SYSTEM_DENIED];
}

/**
 * Parses an allow-list flag value (`/srv,/data/shared`; "" = none). Every error names `flag`, the
 * entry and the fix. An entry inside a refused folder could never allow anything, so it is an error.
 */
export function parseHostPathAllowList(value: string | string[], flag: string, kubeletDirs: string[] = []): string[] {
  const raw = (Array.isArray(value) ? value : value.split(',')).map((s) => s.trim()).filter(Boolean);
  if (raw.length > MAX_ALLOW_ENTRIES) throw new Error(`${flag}: ${raw.length} entries; at most ${MAX_ALLOW_ENTRIES} folders may be listed (allow a common parent instead)`);
  const denied = deniedPaths(kubeletDirs);
  const out: string[] = [];
  for (const entry of raw) {
    const path = normaliseHostPath(entry, `${flag}: entry "${clip(entry, 200)}"`);
    const inside = denied.find((d) => isAtOrUnder(path, d.path));
    if (inside) throw new Error(`${flag}: "${clip(entry, 200)}" is ${path === inside.path ? '' : 'inside '}${inside.path} (${inside.why}), which no Dataset may read; name a folder that holds only data, like /srv/datasets`);
    if (path !== entry.replace(/(.)\/+$/, '$1')) throw new Error(`${flag}: "${clip(entry, 200)}" is not a plain path (it has "." or ".." segments or "//"); write it as ${path}`);
    if (!out.includes(path)) out.push(path);
  }
  return out;
}

export function hostPathPolicy(allow: string[], kubeletDirs: string[] = []): HostPathPolicy {
  return { allow, denied: deniedPaths(kubeletDirs) };
}

/**
 * Why `path` may not be a Dataset's host path, or undefined when it may. `extraDenied` are folders
 * known only at run time (CacheRuntime cache tiers). A path is refused when it is, lies under or
 * contains a refused folder (a parent would expose it just the same), or is outside the allow-list.
 */
export function hostPathRefusal(policy: HostPathPolicy, path: string, extraDenied: DeniedPath[] = []): string | undefined {
  const seen = seenPath(path);
  if ('problem' in seen) return seen.problem;
  const { n, shown } = seen;
  const overlap = deniedOverlap(n, shown, [...policy.denied, ...extraDenied]);
  if (overlap) return `${overlap}, which no Dataset may read`;
  if (!policy.allow.some((a) => isAtOrUnder(n, a))) {
    return policy.allow.length === 0
      ? `${shown} is not allowed: the cluster admin allows no host paths`
      : `${shown} is outside the host paths the cluster admin allows (${policy.allow.join(', ')})`;
  }
  return undefined;
}

/** A path normalised, and how a message shows it (with what it normalises to, when that differs); or why it is no path. */
function seenPath(path: string): { n: string; shown: string } | { problem: string } {
  let n: string;
  try {
    n = normaliseHostPath(path, 'path');
  } catch (e) {
    return { problem: (e as Error).message.replace(/^path: /, '') };
  }
  return { n, shown: n === path.replace(/(.)\/+$/, '$1') ? n : `${clip(path, 200)} (that is ${n})` };
}

/** `shown` is, lies under or contains one of `denied` (a parent exposes it just the same): which, and why. */
function deniedOverlap(n: string, shown: string, denied: DeniedPath[]): string | undefined {
  for (const d of denied) {
    if (isAtOrUnder(n, d.path)) return `${shown} is ${n === d.path ? '' : 'inside '}${d.path} (${d.why})`;
    if (isAtOrUnder(d.path, n)) return `${shown} contains ${d.path} (${d.why})`;
  }
  return undefined;
}

/**
 * Why `path` may not be a CacheRuntime's cache tier folder, or undefined when it may. A tier is a
 * read-write hostPath (DirectoryOrCreate) of the worker pods, so the folders no Dataset may read are
 * refused here too (a tier at /var/lib/kubelet or /etc would write into node state); the allow-list
 * is for data, not caches, and does not apply. Datasets, for their part, may not read a tier.
 */
export function tierPathRefusal(policy: HostPathPolicy, path: string): string | undefined {
  const seen = seenPath(path);
  if ('problem' in seen) return seen.problem;
  const overlap = deniedOverlap(seen.n, seen.shown, policy.denied);
  return overlap ? `${overlap}, which no cache tier may be written to` : undefined;
}

const TIER_WHY = "a CacheRuntime's cache tier folder: cached pages of other datasets";

/**
 * The node folders CacheRuntimes keep cache tiers in (SSD/HDD levels with a `path`, not emptyDir:
 * operator/builders/tiers.ts), from CacheRuntime objects as listed from the API.
 */
export function tierHostPaths(runtimes: unknown[]): DeniedPath[] {
  const out = new Map<string, DeniedPath>();
  for (const rt of runtimes) {
    const levels = (rt as { spec?: { tieredStore?: { levels?: unknown } } })?.spec?.tieredStore?.levels;
    if (!Array.isArray(levels)) continue;
    for (const level of levels as { medium?: unknown; path?: unknown; emptyDir?: unknown }[]) {
      if (!level || level.medium === 'MEM' || typeof level.path !== 'string' || level.emptyDir === true) continue;
      try {
        const path = normaliseHostPath(level.path, 'path');
        out.set(path, { path, why: TIER_WHY });
      } catch {
        // Not a usable path: the CacheRuntime is refused on its own, and no pod mounts it.
      }
    }
  }
  return [...out.values()];
}
