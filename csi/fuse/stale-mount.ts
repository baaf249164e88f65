import { execFile } from 'node:child_process';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { HoardError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';

const run = promisify(execFile);
/** Errors a mount point gives when the process that served it is gone. */
const DEAD_MOUNT_CODES = new Set(['ENOTCONN', 'ECONNABORTED', 'ENXIO', 'EIO']);

function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Mount points currently in this process's mount namespace (field 5 of /proc/self/mountinfo). */
export async function mountPoints(): Promise<Set<string>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const points = new Set<string>();
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields.length > 4) points.add(unescapeMountPath(fields[4]!));
  }
  return points;
}

export async function isMountPoint(dir: string): Promise<boolean> {
  return (await mountPoints()).has(resolve(dir));
}

async function statError(dir: string): Promise<NodeJS.ErrnoException | undefined> {
  try {
    await stat(dir);
    return undefined;
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
}

/** Detaches whatever is mounted at dir: `fusermount -uz`, then `umount -l` for non-FUSE leftovers. */
export async function detachMount(dir: string, logger?: Logger): Promise<void> {
  try {
    await run('fusermount', ['-uz', dir], { timeout: 10_000 });
    return;
  } catch (err) {
    logger?.debug({ dir, err: (err as Error).message }, 'fusermount -uz failed; trying umount -l');
  }
  await run('umount', ['-l', dir], { timeout: 10_000 });
}

/**
 * Makes dir ready to be mounted on: cleans a mount whose serving process died (a crash leaves the
 * kernel mount behind and every access fails with ENOTCONN), creates the directory if missing,
 * and refuses a directory that is a live mount of something else.
 */
export async function prepareMountPoint(dir: string, logger?: Logger): Promise<void> {
  const abs = resolve(dir);
  let err = await statError(abs);
  const mounted = await isMountPoint(abs);
  if ((err && DEAD_MOUNT_CODES.has(err.code ?? '')) || (mounted && err)) {
    logger?.warn({ dir: abs, code: err.code }, 'found a dead mount left by a crashed process; cleaning it');
    await detachMount(abs, logger);
    err = await statError(abs);
    if (err && DEAD_MOUNT_CODES.has(err.code ?? '')) {
      throw new HoardError('FAILED_PRECONDITION', `${abs}: a dead mount is still there after fusermount -uz and umount -l (${err.code}); unmount it by hand`);
    }
  } else if (mounted) {
    throw new HoardError('ALREADY_EXISTS', `${abs} is already a live mount point; unmount it first (fusermount -u ${abs}) or pick another directory`);
  }
  if (err?.code === 'ENOENT') {
    await mkdir(abs, { recursive: true });
    return;
  }
  if (err) throw new HoardError('FAILED_PRECONDITION', `${abs}: cannot use as a mount point: ${err.message}`);
  const st = await stat(abs);
  if (!st.isDirectory()) throw new HoardError('INVALID_ARGUMENT', `${abs} is not a directory; the mount point must be a directory`);
}
