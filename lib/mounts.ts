/**
 * The mount table: how several under-storages form one namespace (`/train` from S3, `/labels`
 * from a folder). The operator writes it into a ConfigMap, `hoard up` builds it from --ufs flags,
 * workers load it with --mounts. It never holds secret values: credentials are a directory of
 * files (a mounted Secret) or the SDK's default chain (env, ~/.aws/credentials).
 */
export interface MountSpec {
  /** Top-level directory in the namespace: [a-z0-9]([-a-z0-9_.]*[a-z0-9])? */
  name: string;
  /** s3://bucket/prefix, file:///abs/path, http(s)://host/path */
  uri: string;
  /** Connector options, e.g. endpoint, region, pathStyle ("true"), files (http list). */
  options?: Record<string, string>;
  /** Directory holding credential files (accessKeyId, secretAccessKey[, sessionToken]). */
  credentialsDir?: string;
  readOnly?: boolean;
  /**
   * In a cluster, a file:// mount's data lives on a Kubernetes volume (a node's host path, an NFS
   * export, an existing PVC). The operator mounts it read-only at `volume.mountPath` in the worker
   * pods and points `uri` inside it; the CSI side's mount pods mount the same volume at the same
   * path for the direct-UFS fallback. Absent for s3/http mounts and outside Kubernetes.
   */
  volume?: MountVolume;
}

/**
 * A Kubernetes volume source holding a mount's data, in the shape of the core/v1 Volume field
 * of the same name (so `{name, ...source}` is a valid pod volume). Always read-only; no secrets.
 */
export type MountVolumeSource =
  | { hostPath: { path: string; type: 'Directory' } }
  | { nfs: { server: string; path: string; readOnly: true } }
  | { persistentVolumeClaim: { claimName: string; readOnly: true } };

export interface MountVolume {
  /** Pod volume name, a DNS-1123 label unique among the mount table's volumes, e.g. "ufs-0". */
  name: string;
  /** Absolute path where the volume is mounted read-only in the pod; the mount's uri is file://<mountPath>[/sub]. */
  mountPath: string;
  /** Namespace of the Dataset (a persistentVolumeClaim source only exists there). */
  namespace?: string;
  source: MountVolumeSource;
}

export interface MountTable {
  mounts: MountSpec[];
}

const NAME = /^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$/;
const SCHEMES = ['s3:', 'file:', 'http:', 'https:'];

/** Validates a mount table; every error names the field (mounts[i].uri …) and the fix. */
export function validateMountTable(table: unknown): MountTable {
  if (!table || typeof table !== 'object' || !Array.isArray((table as MountTable).mounts)) {
    throw new Error('mounts: expected an object {mounts: [{name, uri}]}');
  }
  const seen = new Set<string>();
  const volumes = new Set<string>();
  const mounts = (table as MountTable).mounts.map((m, i) => {
    const at = `mounts[${i}]`;
    if (!m || typeof m !== 'object') throw new Error(`${at}: expected an object with name and uri`);
    if (typeof m.name !== 'string' || !NAME.test(m.name)) {
      throw new Error(`${at}.name: "${String(m.name)}" must be lower-case letters, digits, '-', '_' or '.', like "train"`);
    }
    if (seen.has(m.name)) throw new Error(`${at}.name: "${m.name}" is used twice; mount names must be unique`);
    seen.add(m.name);
    if (typeof m.uri !== 'string') throw new Error(`${at}.uri: required, e.g. s3://bucket/prefix or file:///data`);
    let url: URL;
    try {
      url = new URL(m.uri);
    } catch {
      throw new Error(`${at}.uri: "${m.uri}" is not a URI; use s3://bucket/prefix, file:///abs/path or https://host/path`);
    }
    if (!SCHEMES.includes(url.protocol)) {
      throw new Error(`${at}.uri: scheme "${url.protocol}" is not supported; use s3://, file://, http:// or https://`);
    }
    if (url.username || url.password) {
      throw new Error(`${at}.uri: credentials must not be in the URI; use credentialsDir or the environment`);
    }
    if (m.options !== undefined) {
      if (typeof m.options !== 'object' || m.options === null) throw new Error(`${at}.options: expected a map of strings`);
      for (const [k, v] of Object.entries(m.options)) {
        if (typeof v !== 'string') throw new Error(`${at}.options.${k}: expected a string value`);
      }
    }
    if (m.volume !== undefined) {
      validateMountVolume(m.volume, url, `${at}.volume`);
      if (volumes.has(m.volume.name)) throw new Error(`${at}.volume.name: "${m.volume.name}" is used twice; volume names must be unique`);
      volumes.add(m.volume.name);
    }
    return { ...m };
  });
  if (mounts.length === 0) throw new Error('mounts: at least one mount is required');
  return { mounts };
}

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SAFE_PATH = /^\/[^\0]{0,1023}$/;

function checkPath(path: unknown, at: string): void {
  if (typeof path !== 'string' || !SAFE_PATH.test(path) || path.split('/').some((s) => s === '..' || s === '.')) {
    throw new Error(`${at}: "${String(path)}" must be an absolute path without "." or ".." segments`);
  }
}

/** A mount's volume: one read-only source, mounted at an absolute path the file:// uri lies under. */
function validateMountVolume(v: MountVolume, url: URL, at: string): void {
  if (!v || typeof v !== 'object') throw new Error(`${at}: expected {name, mountPath, source}`);
  if (typeof v.name !== 'string' || !LABEL.test(v.name)) throw new Error(`${at}.name: "${String(v.name)}" must be a DNS-1123 label, like "ufs-0"`);
  checkPath(v.mountPath, `${at}.mountPath`);
  if (v.mountPath === '/') throw new Error(`${at}.mountPath: must not be "/"`);
  const path = decodeURIComponent(url.pathname);
  if (url.protocol !== 'file:' || (path !== v.mountPath && !path.startsWith(`${v.mountPath.replace(/\/+$/, '')}/`))) {
    throw new Error(`${at}: the mount's uri must be file://${v.mountPath}[/sub/path], the volume's path in the pod`);
  }
  const src = v.source as Record<string, Record<string, unknown> | undefined> | undefined;
  const kinds = src && typeof src === 'object' ? Object.keys(src) : [];
  if (kinds.length !== 1) throw new Error(`${at}.source: exactly one of hostPath, nfs or persistentVolumeClaim`);
  const [kind] = kinds as [string];
  const body = src![kind];
  if (!body || typeof body !== 'object') throw new Error(`${at}.source.${kind}: expected an object`);
  if (kind === 'hostPath') {
    checkPath(body.path, `${at}.source.hostPath.path`);
    if (body.type !== 'Directory') throw new Error(`${at}.source.hostPath.type: must be Directory`);
  } else if (kind === 'nfs') {
    if (typeof body.server !== 'string' || !/^[A-Za-z0-9.:\-[\]]{1,253}$/.test(body.server)) throw new Error(`${at}.source.nfs.server: a host name or IP address`);
    checkPath(body.path, `${at}.source.nfs.path`);
    if (body.readOnly !== true) throw new Error(`${at}.source.nfs.readOnly: must be true`);
  } else if (kind === 'persistentVolumeClaim') {
    if (typeof body.claimName !== 'string' || !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(body.claimName)) {
      throw new Error(`${at}.source.persistentVolumeClaim.claimName: a PVC name, like "my-data"`);
    }
    if (body.readOnly !== true) throw new Error(`${at}.source.persistentVolumeClaim.readOnly: must be true`);
  } else {
    throw new Error(`${at}.source.${kind}: not supported; use hostPath, nfs or persistentVolumeClaim`);
  }
}

/** Builds a mount table from CLI-style `name=uri` or bare `uri` arguments. */
export function mountTableFromArgs(args: string[]): MountTable {
  const mounts = args.map((arg, i) => {
    const eq = arg.indexOf('=');
    const hasName = eq > 0 && !arg.slice(0, eq).includes(':');
    const raw = hasName ? arg.slice(eq + 1) : arg;
    const name = hasName ? arg.slice(0, eq) : args.length === 1 ? 'data' : `m${i}`;
    return { name, ...splitUriOptions(raw) };
  });
  return validateMountTable({ mounts });
}

/**
 * CLI URIs may carry connector options as a query (`s3://b/p?endpoint=http://h:9000&region=x`);
 * they are moved into `options` so the URI itself stays a plain location.
 */
export function splitUriOptions(raw: string): { uri: string; options?: Record<string, string> } {
  const q = raw.indexOf('?');
  if (q < 0 || raw.startsWith('http')) return { uri: raw };
  const options = Object.fromEntries(new URLSearchParams(raw.slice(q + 1)));
  return { uri: raw.slice(0, q), options };
}
