import { resolve } from 'node:path';
import type { DataClient } from '../../worker/client/types.js';
import { createFuse } from './fuse-native.js';
import { createHoardOps } from './ops.js';
import { fuseOptionList, type HoardFsOptions } from './options.js';
import { DEFAULT_READ_AHEAD_KB, setMountReadAhead } from './read-ahead.js';
import { detachMount, isMountPoint, prepareMountPoint } from './stale-mount.js';

export type { HoardFsOptions } from './options.js';

export interface HoardMount {
  dir: string;
  /** Detaches the mount (lazily, so busy readers do not block it); safe to call twice. */
  unmount(): Promise<void>;
}

/**
 * Mounts the Hoard namespace served by `client` at dir. The calling process serves the mount: it
 * must never make synchronous fs calls on dir itself, or the FUSE thread and the event loop
 * wait on each other forever.
 */
export async function mountHoardFs(dir: string, client: DataClient, opts: HoardFsOptions = {}): Promise<HoardMount> {
  const abs = resolve(dir);
  const logger = opts.logger;
  const options = fuseOptionList(opts);
  await prepareMountPoint(abs, logger);

  const { ops } = createHoardOps({
    client,
    uid: opts.uid ?? process.getuid?.() ?? 0,
    gid: opts.gid ?? process.getgid?.() ?? 0,
    logger,
  });
  const fuse = createFuse(abs, ops, options, opts.opTimeoutMs ?? 60_000);
  await new Promise<void>((ok, fail) => fuse.mount((err) => (err ? fail(new Error(`mount ${abs}: ${err.message}`)) : ok())));
  logger?.info({ dir: abs, options }, 'mounted');
  const readAheadKb = opts.readAheadKb ?? DEFAULT_READ_AHEAD_KB;
  if (readAheadKb > 0) {
    const problem = await setMountReadAhead(abs, readAheadKb);
    if (problem) logger?.warn({ dir: abs, readAheadKb }, `kernel read-ahead left at its default: ${problem}`);
  }

  let unmounting: Promise<void> | undefined;
  const unmount = () => {
    unmounting ??= new Promise<void>((ok) => fuse.unmount((err) => {
      if (err) logger?.warn({ dir: abs, err: err.message }, 'fuse unmount reported an error');
      ok();
    })).then(async () => {
      // fuse-native's unmount is fusermount -uz; make sure nothing is left even if that failed.
      if (await isMountPoint(abs)) await detachMount(abs, logger);
      logger?.info({ dir: abs }, 'unmounted');
    });
    return unmounting;
  };
  return { dir: abs, unmount };
}
