import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One line of /proc/self/mountinfo, reduced to what the plugin decides on. */
export interface MountEntry {
  /** "major:minor" of the mounted file system: a bind mount shares it with its source. */
  dev: string;
  /** Path inside the source file system that is mounted here ("/" for a whole mount). */
  root: string;
  mountPoint: string;
  options: string[];
  fsType: string;
  source: string;
}

/** Errors a path gives when the FUSE process behind it is gone. */
const DEAD_CODES = ['ENOTCONN', 'ECONNABORTED', 'Transport endpoint is not connected', 'Software caused connection abort'];

function unescape(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export async function readMountInfo(): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    // id parent dev root mountpoint options [optional...] - fstype source superoptions
    const [left, right] = line.split(' - ');
    const f = left!.split(' ');
    const r = (right ?? '').split(' ');
    entries.push({
      dev: f[2]!,
      root: unescape(f[3]!),
      mountPoint: unescape(f[4]!),
      options: f[5]!.split(','),
      fsType: r[0] ?? '',
      source: unescape(r[1] ?? ''),
    });
  }
  return entries;
}

/** The top-most mount at path (the last one listed wins when mounts are stacked). */
export async function mountAt(path: string, table?: MountEntry[]): Promise<MountEntry | undefined> {
  const all = table ?? (await readMountInfo());
  let found: MountEntry | undefined;
  for (const e of all) if (e.mountPoint === path) found = e;
  return found;
}

export async function isMountPoint(path: string): Promise<boolean> {
  return (await mountAt(path)) !== undefined;
}

export type PathHealth = 'ok' | 'dead' | 'missing' | 'unresponsive' | 'error';

/**
 * Probes a path from a short-lived `stat` child, never from this process: a hung FUSE server
 * would otherwise pin a libuv thread forever. ENOTCONN (or ECONNABORTED) means the process that
 * served the mount is gone.
 */
export async function probePath(path: string, timeoutMs = 5000): Promise<{ health: PathHealth; detail: string }> {
  try {
    await run('stat', ['-c', '%i', path], { timeout: timeoutMs, killSignal: 'SIGKILL' });
    return { health: 'ok', detail: '' };
  } catch (err) {
    const e = err as { stderr?: string; killed?: boolean; signal?: string; message: string };
    const text = `${e.stderr ?? ''} ${e.message}`;
    if (e.killed || e.signal === 'SIGKILL') return { health: 'unresponsive', detail: `no answer within ${timeoutMs} ms` };
    if (DEAD_CODES.some((c) => text.includes(c))) return { health: 'dead', detail: 'transport endpoint is not connected' };
    if (text.includes('No such file')) return { health: 'missing', detail: 'no such file or directory' };
    return { health: 'error', detail: (e.stderr ?? e.message).trim() };
  }
}

async function sh(cmd: string, args: string[]): Promise<void> {
  try {
    await run(cmd, args, { timeout: 15_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}

/** Bind-mounts source onto target; read-only needs a second remount (bind ignores `ro`). */
export async function bindMount(source: string, target: string, readOnly: boolean): Promise<void> {
  await sh('mount', ['--bind', source, target]);
  if (readOnly) {
    try {
      await sh('mount', ['-o', 'remount,bind,ro', target]);
    } catch (err) {
      // Never leave a writable bind behind when read-only was asked for.
      await unmount(target).catch(() => undefined);
      throw err;
    }
  }
}

/** Unmounts path; falls back to a lazy detach when the mount is busy or dead. */
export async function unmount(path: string): Promise<void> {
  try {
    await sh('umount', [path]);
  } catch {
    await sh('umount', ['-l', path]);
  }
}

/** Detaches a FUSE mount whether or not its server is alive (fusermount -uz, then umount -l). */
export async function detachFuse(path: string): Promise<void> {
  try {
    await sh('fusermount', ['-uz', path]);
  } catch {
    await sh('umount', ['-l', path]);
  }
}

/** Unmounts every mount stacked at path (a crash can leave more than one). */
export async function unmountAll(path: string, fuse: boolean): Promise<void> {
  for (let i = 0; i < 8 && (await isMountPoint(path)); i++) {
    await (fuse ? detachFuse(path) : unmount(path));
  }
}
