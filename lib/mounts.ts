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
    return { ...m };
  });
  if (mounts.length === 0) throw new Error('mounts: at least one mount is required');
  return { mounts };
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
