/** Small helpers shared by the emulator's modules. */

/** RFC 3339 with seconds precision, like metav1.Time. */
let lastSecond = -1;
let lastStamp = '';
export function now(): string {
  // Called on every write: format once per second.
  const second = Math.floor(Date.now() / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    lastStamp = new Date(second * 1000).toISOString().replace('.000Z', 'Z');
  }
  return lastStamp;
}

const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** The 5-character suffix kube-apiserver appends for metadata.generateName. */
export function randomSuffix(n = 5): string {
  let s = '';
  for (let i = 0; i < n; i++) s += GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)];
  return s;
}

export const isObject = (v: unknown): v is Record<string, any> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Structural equality ignoring key order (no-op writes must not bump resourceVersion). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    if (ka.length !== kb.length) return false;
    for (const k of ka) if (!deepEqual(a[k], b[k])) return false;
    return true;
  }
  return false;
}

/** Read `.spec.replicas`-style paths (CRD scale paths, printer columns). */
export function readPath(obj: unknown, path: string): unknown {
  let cur: any = obj;
  for (const part of path.replace(/^\./, '').split('.')) {
    if (part === '') continue;
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = cur[part];
  }
  return cur;
}

/** Return a copy of `obj` with `path` set (creating intermediate objects). */
export function writePath<T extends Record<string, any>>(obj: T, path: string, value: unknown): T {
  const parts = path.replace(/^\./, '').split('.').filter((p) => p !== '');
  const root: Record<string, any> = { ...obj };
  let cur = root;
  for (const part of parts.slice(0, -1)) {
    cur[part] = isObject(cur[part]) ? { ...cur[part] } : {};
    cur = cur[part];
  }
  cur[parts[parts.length - 1]] = value;
  return root as T;
}
