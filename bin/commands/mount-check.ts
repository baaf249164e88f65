// Every mount checked once before `hoard up` / `hoard mount` start serving: a missing bucket,
// refused credentials, a missing folder or an unreachable server is said on the terminal, with the
// mount, the reason and the fix, instead of an empty or unreadable directory.
import { HoardError } from '../../lib/errors.js';
import type { MountTable } from '../../lib/mounts.js';
import { createNamespace } from '../../worker/ufs/namespace.js';

export interface MountProblem {
  name: string;
  /** The mount's URI without its query (endpoint, region): what the user typed first; '' when unknown. */
  uri: string;
  reason: string;
}

/** Fixes by error code, for messages that do not already say what to do. */
const FIX: Record<string, string> = {
  NOT_FOUND: 'check the uri',
  PERMISSION_DENIED: 'check the credentials and the permissions on the storage',
  UNAVAILABLE: 'check that the server is running and reachable at the uri (and its endpoint option)',
  DEADLINE_EXCEEDED: 'check that the server is running and reachable at the uri (and its endpoint option)',
};

/**
 * Stats each mount's root (and lists an HTTP one) through `store` within timeoutMs,
 * and returns the mounts that did not answer, each with a one-line reason that ends in a fix.
 */
/** What the check asks: the workers (hoard mount) or the stores themselves (hoard up). */
export interface MountProbe {
  stat(path: string): Promise<unknown>;
  list(path: string): Promise<unknown>;
}

export async function checkMounts(table: MountTable, store: MountProbe, timeoutMs = 10_000): Promise<MountProblem[]> {
  const results = await Promise.all(
    table.mounts.map(async (m): Promise<MountProblem | undefined> => {
      const uri = m.uri.replace(/\?.*$/, '');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<string>((ok) => (timer = setTimeout(() => ok(`no answer within ${timeoutMs / 1000} s; ${FIX.UNAVAILABLE}`), timeoutMs)));
      try {
        const probe = async (): Promise<void> => {
          await store.stat(`/${m.name}`);
          // An HTTP mount's root is a directory by definition: only its listing reaches the server.
          if (/^https?:/.test(m.uri)) await store.list(`/${m.name}`);
        };
        const reason = await Promise.race([probe().then(() => undefined, (err: unknown) => describe(err, uri)), late]);
        return reason === undefined ? undefined : { name: m.name, uri, reason };
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return results.filter((r): r is MountProblem => r !== undefined);
}

function describe(err: unknown, uri: string): string {
  let msg = err instanceof Error ? err.message : String(err);
  // Connector messages often start with the location ("s3://b/p/: …"); the line already names it.
  if (uri && msg.startsWith(uri) && msg.indexOf(': ') > 0) msg = msg.slice(msg.indexOf(': ') + 2);
  const code = (err as { code?: unknown } | undefined)?.code;
  const fix = typeof code === 'string' ? FIX[code] : undefined;
  return fix && !/; (check|set|use|create) /.test(msg) ? `${msg}; ${fix}` : msg;
}

/** "mount data: s3://nosuchbucket/data: bucket does not exist; check the uri" */
export function problemLine(p: MountProblem): string {
  return p.uri ? `mount ${p.name}: ${p.uri}: ${p.reason}` : `mount ${p.name}: ${p.reason}`;
}

/**
 * Runs checkMounts and says each problem; without allowUnready, throws so the command exits
 * non-zero before anything is mounted.
 */
export async function checkMountsOrStop(table: MountTable, store: MountProbe, allowUnready: boolean, say: (msg: string) => void): Promise<void> {
  const problems = await checkMounts(table, store);
  if (problems.length === 0) return;
  for (const p of problems) say(problemLine(p));
  const names = problems.map((p) => p.name).join(', ');
  if (!allowUnready) throw new Error(`${problems.length} of ${table.mounts.length} mount(s) cannot be read (${names}); fix them, or start anyway with --allow-unready`);
  say(`starting anyway (--allow-unready): ${names} unreadable until the storage answers`);
}

/** Checks the mounts straight against their stores, as the workers will see them (same URIs and environment). */
export async function checkStoresOrStop(table: MountTable, allowUnready: boolean, say: (msg: string) => void): Promise<void> {
  const ns = createNamespace(table);
  const probe: MountProbe = {
    stat: (path) => ns.stat(path),
    // Without a manifest an HTTP mount answers its root listing without asking the server: ask it.
    list: (path) => {
      const m = table.mounts.find((x) => `/${x.name}` === path);
      return m && /^https?:/.test(m.uri) ? reachable(m.uri) : ns.list(path);
    },
  };
  try {
    await checkMountsOrStop(table, probe, allowUnready, say);
  } finally {
    await ns.close();
  }
}

/** Any HTTP answer (even 404) shows the server is there; a refused or silent connection does not. */
async function reachable(uri: string): Promise<void> {
  try {
    await fetch(uri, { method: 'HEAD', signal: AbortSignal.timeout(5_000), redirect: 'manual' });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new HoardError('UNAVAILABLE', `cannot reach the server (${cause?.code ?? cause?.message ?? (err as Error).message})`);
  }
}
