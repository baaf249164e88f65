import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root, found by walking up from this file, so the same code finds worker/proto and
 * crds/ whether it runs from source (vitest) or from dist/.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'worker', 'proto'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('hoard: cannot find the package root (package.json + worker/proto)');
    dir = parent;
  }
}

/** The CLI entry point, for spawning `hoard <cmd>` child processes (workers, FUSE mounts). */
export function hoardBin(): string {
  return join(packageRoot(), 'dist', 'bin', 'hoard.js');
}
