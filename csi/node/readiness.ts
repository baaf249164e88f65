import { constants, existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

export interface ReadinessOptions {
  /** The FUSE device (default /dev/fuse). */
  fuseDevice: string;
  /** Files the FUSE child needs (e.g. dist/bin/hoard.js). */
  requiredFiles: string[];
}

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, tool)));
}

/** Why this node cannot mount Hoard volumes right now; empty when it can. */
export async function notReadyReasons(opts: ReadinessOptions): Promise<string[]> {
  const reasons: string[] = [];
  try {
    await access(opts.fuseDevice, constants.R_OK | constants.W_OK);
  } catch {
    reasons.push(`${opts.fuseDevice} is missing or not read-writable (load the fuse module; run the plugin privileged)`);
  }
  for (const tool of ['fusermount', 'mount', 'umount', 'stat', 'realpath']) {
    if (!onPath(tool)) reasons.push(`${tool} is not on PATH (install fuse / util-linux / coreutils in the image)`);
  }
  for (const f of opts.requiredFiles) {
    if (!existsSync(f)) reasons.push(`${f} is missing (build the package: npm run build)`);
  }
  return reasons;
}
