import type { Readable } from 'node:stream';
import { HoardError } from '../../lib/errors.js';
import { validateMountTable, type MountSpec, type MountTable } from '../../lib/mounts.js';
import { StoreDeadline, storeName } from './deadline.js';
import { createUfs } from './factory.js';
import { normalizePath } from './path.js';
import type { Ufs, UfsEntry } from './types.js';

interface Mount {
  spec: MountSpec;
  ufs: Ufs;
  deadline: StoreDeadline | undefined;
}

export interface NamespaceOptions {
  /** Deadline of each store call (StoreDeadline); undefined: only the connectors' own timeouts. */
  storeTimeoutMs?: number;
}

/** Where a namespace path lands: the mount and the path inside it. */
export interface Resolved {
  mount: MountSpec;
  ufs: Ufs;
  deadline: StoreDeadline | undefined;
  /** Path inside the mount ('/' for the mount root). */
  inner: string;
}

/**
 * Several under-storages as one tree: '/' lists the mount names, '/train/x' is '/x' of mount
 * "train". Entries coming back from a mount get their paths re-rooted under the mount name.
 */
export class Namespace implements Ufs {
  private readonly mounts = new Map<string, Mount>();

  constructor(table: MountTable, factory: (spec: MountSpec) => Ufs = createUfs, opts: NamespaceOptions = {}) {
    const ms = opts.storeTimeoutMs;
    if (ms !== undefined && !(Number.isSafeInteger(ms) && ms > 0)) throw new HoardError('INVALID_ARGUMENT', `storeTimeoutMs: ${ms} must be a positive whole number of milliseconds`);
    let valid: MountTable;
    try {
      valid = validateMountTable(table);
    } catch (e) {
      throw new HoardError('INVALID_ARGUMENT', (e as Error).message, { cause: e });
    }
    try {
      for (const spec of valid.mounts) this.mounts.set(spec.name, { spec, ufs: factory(spec), deadline: ms === undefined ? undefined : new StoreDeadline(ms, storeName(spec)) });
    } catch (e) {
      void this.close();
      throw e;
    }
  }

  mountNames(): string[] {
    return [...this.mounts.keys()].sort();
  }

  /** The mount and inner path for a namespace path; undefined for '/'. */
  resolve(path: string): Resolved | undefined {
    const norm = normalizePath(path);
    if (norm === '/') return undefined;
    const slash = norm.indexOf('/', 1);
    const name = slash < 0 ? norm.slice(1) : norm.slice(1, slash);
    const m = this.mounts.get(name);
    if (!m) throw new HoardError('NOT_FOUND', `${norm}: no mount named "${name}" (mounts: ${this.mountNames().join(', ') || 'none'})`);
    return { mount: m.spec, ufs: m.ufs, deadline: m.deadline, inner: slash < 0 ? '/' : norm.slice(slash) };
  }

  /** Writes are never served through the cache; '/' and unknown mounts are read-only too. */
  isReadOnly(path: string): boolean {
    try {
      return this.resolve(path)?.mount.readOnly ?? true;
    } catch {
      return true;
    }
  }

  async stat(path: string): Promise<UfsEntry> {
    const r = this.resolve(path);
    if (!r) return { path: '/', name: '', isDir: true, size: 0, mtimeMs: 0, version: '' };
    const op = (): Promise<UfsEntry> => r.ufs.stat(r.inner);
    return reroot(r.mount.name, await (r.deadline ? r.deadline.call(`stat ${r.inner}`, op) : op()));
  }

  async list(path: string): Promise<UfsEntry[]> {
    const r = this.resolve(path);
    if (!r) {
      // Mount roots are listed without asking their storage, so one slow backend cannot block `ls /`.
      return this.mountNames().map((name) => ({ path: `/${name}`, name, isDir: true, size: 0, mtimeMs: 0, version: '' }));
    }
    const op = (): Promise<UfsEntry[]> => r.ufs.list(r.inner);
    return (await (r.deadline ? r.deadline.call(`list ${r.inner}`, op) : op())).map((e) => reroot(r.mount.name, e));
  }

  async read(path: string, offset: number, length: number, signal?: AbortSignal, version?: string): Promise<Readable> {
    const r = this.resolve(path);
    if (!r) throw new HoardError('IS_DIRECTORY', '/: is a directory');
    if (!r.deadline) return r.ufs.read(r.inner, offset, length, signal, version);
    return r.deadline.read(`read ${r.inner} [${offset}, +${length})`, signal, (s) => r.ufs.read(r.inner, offset, length, s, version));
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.mounts.values()].map((m) => m.ufs.close()));
  }
}

export function createNamespace(table: MountTable, opts: NamespaceOptions = {}): Namespace {
  return new Namespace(table, createUfs, opts);
}

function reroot(mountName: string, e: UfsEntry): UfsEntry {
  const path = e.path === '/' ? `/${mountName}` : `/${mountName}${e.path}`;
  return { ...e, path, name: e.path === '/' ? mountName : e.name };
}
