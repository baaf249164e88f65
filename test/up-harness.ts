// Shared by the `hoard up` tests: a temp root and mount dir per test, the `hoard up` process and
// the children it reports, all torn down after each test however it ended.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect } from 'vitest';
import { alive, forceUnmount, killHard, mountsContain, spawnHoard, type HoardProcess } from './fuse-helpers.js';

export interface UpHarness {
  /** This test's scratch folder and the mount point inside it. */
  readonly root: string;
  readonly mnt: string;
  /** Runs `hoard up ARGS` and resolves with its "mounted" event once the mount is ready. */
  start(args: string[]): Promise<Record<string, unknown>>;
  /** The running `hoard up` (its stdout events and stderr). */
  readonly up: HoardProcess;
  /** Ctrl-C: `hoard up` must exit 0, leave no mount and no child process behind. */
  stopAndCheck(): Promise<void>;
}

export function upHarness(): UpHarness {
  let root = '';
  let up: HoardProcess | undefined;
  let pids: number[] = [];
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'hoard-up-'));
  });
  afterEach(async () => {
    await killHard(up);
    up = undefined;
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    pids = [];
    await forceUnmount(join(root, 'mnt'));
    await rm(root, { recursive: true, force: true });
  });
  return {
    get root() {
      return root;
    },
    get mnt() {
      return join(root, 'mnt');
    },
    get up() {
      if (!up) throw new Error('hoard up is not running');
      return up;
    },
    async start(args) {
      up = spawnHoard(['up', ...args]);
      const ready = await up.waitFor('mounted', 45_000);
      pids = ready.pids as number[];
      return ready;
    },
    async stopAndCheck() {
      up!.proc.kill('SIGINT');
      expect((await up!.exited).code).toBe(0);
      expect(await mountsContain(join(root, 'mnt'))).toBe(false);
      for (const pid of pids) expect(alive(pid), `child ${pid}`).toBe(false);
    },
  };
}
