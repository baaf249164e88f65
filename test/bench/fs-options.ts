// The libfuse options of the benchmark's Hoard mount, in one place: mounts.ts turns them into
// `hoard mount` flags, memfs-main.ts (the fuse ceiling) mounts with exactly the same options, so
// the ceiling ratio compares like with like. To try a new FUSE knob, add it here (and, when it is
// a new HoardFsOptions field, its flag in hoardMountFlags below, as bin/commands/mount.ts maps it).
import type { HoardFsOptions } from '../../csi/fuse/options.js';

export const benchFsOptions: HoardFsOptions = {
  kernelCache: true,
  attrTimeoutSec: 60,
  entryTimeoutSec: 60,
  readAheadKb: 1024,
};

type FlagMap = { [K in keyof HoardFsOptions]-?: (v: NonNullable<HoardFsOptions[K]>) => string[] };

// The inverse of bin/commands/mount.ts's flag -> HoardFsOptions mapping. Fields without a
// `hoard mount` flag throw, so the two mounts can never silently diverge.
const flagMap: Partial<FlagMap> = {
  readOnly: (v) => (v ? ['--read-only'] : []),
  kernelCache: (v) => (v ? ['--kernel-cache'] : []),
  attrTimeoutSec: (v) => ['--attr-timeout', String(v)],
  entryTimeoutSec: (v) => ['--entry-timeout', String(v)],
  directIO: (v) => (v ? ['--direct-io'] : []),
  allowOther: (v) => (v ? ['--allow-other'] : []),
  readAheadKb: (v) => ['--read-ahead-kb', String(v)],
};

/** `hoard mount` flags that produce `opts` (see bin/commands/mount.ts). */
export function hoardMountFlags(opts: HoardFsOptions = benchFsOptions): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(opts) as [keyof HoardFsOptions, unknown][]) {
    if (value === undefined) continue;
    const map = flagMap[key] as ((v: unknown) => string[]) | undefined;
    if (!map) throw new Error(`benchFsOptions.${key}: no \`hoard mount\` flag mapped for it in test/bench/fs-options.ts`);
    out.push(...map(value));
  }
  return out;
}
