import { readFile, writeFile } from 'node:fs/promises';

/** What Hoard mounts ask of the kernel's read-ahead unless told otherwise (see setMountReadAhead). */
export const DEFAULT_READ_AHEAD_KB = 1024;

/** The "major:minor" of the file system mounted at `dir`, from /proc/self/mountinfo; never touches `dir` itself. */
export async function mountDevice(dir: string): Promise<string | undefined> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  let found: string | undefined;
  for (const line of info.split('\n')) {
    // id parent major:minor root mount-point ...; the mount point escapes spaces as \040.
    const f = line.split(' ');
    if (f.length > 4 && f[4]!.replace(/\\040/g, ' ') === dir) found = f[2];
  }
  return found; // the last one listed is the one on top
}

/**
 * Sets the kernel read-ahead of the FUSE mount at `dir` (its backing device's read_ahead_kb).
 * libfuse 2 cannot ask for more than 128 KiB, which keeps one 128 KiB read in flight per reader
 * and makes each sequential read a chain of round trips; about 1 MiB lets the kernel keep eight
 * in flight (as gcsfuse and JuiceFS advise). Writing it needs root: elsewhere the kernel default
 * stays and the reason is returned for the caller to log.
 */
export async function setMountReadAhead(dir: string, kb: number): Promise<string | undefined> {
  if (!Number.isInteger(kb) || kb < 0) throw new Error(`readAheadKb: ${kb} must be a whole number of KiB >= 0`);
  const dev = await mountDevice(dir);
  if (!dev) return `no mount found at ${dir}`;
  try {
    await writeFile(`/sys/class/bdi/${dev}/read_ahead_kb`, String(kb));
    return undefined;
  } catch (err) {
    return `cannot set /sys/class/bdi/${dev}/read_ahead_kb: ${(err as Error).message}`;
  }
}
