// Test harness for the CSI node plugin: runs `hoard csi` as a real process on a unix socket and
// talks to it with a gRPC client built from csi/proto/csi.proto, as the kubelet would.
import { credentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { hoardBin } from '../../lib/root.js';
import { loadCsi } from '../../csi/server/proto.js';

export const run = promisify(execFile);

export interface PluginProcess {
  child: ChildProcess;
  pid: number;
  socket: string;
  health: string;
  /** Everything the plugin logged on stderr so far. */
  logs(): string;
  /** Sends a signal and waits for exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** `hoard csi --controller` against an API server (the emulator's kubeconfig), records in `namespace`. */
export function startController(opts: { dir: string; kubeconfig: string; namespace: string }): Promise<PluginProcess> {
  return startPlugin({ dir: opts.dir, controller: true, args: ['--controller', '--kubeconfig', opts.kubeconfig, '--namespace', opts.namespace] });
}

/**
 * Starts `hoard csi` with its socket in opts.dir. opts.command replaces this Node on dist/bin/hoard.js
 * (e.g. `buildah run <ctr> -- hoard`); opts.endpointDir is where that command sees opts.dir.
 */
export async function startPlugin(opts: {
  dir: string;
  stateDir?: string;
  nodeId?: string;
  args?: string[];
  controller?: boolean;
  command?: string[];
  endpointDir?: string;
}): Promise<PluginProcess> {
  const socket = join(opts.dir, 'csi.sock');
  const [cmd, ...lead] = opts.command ?? [process.execPath, hoardBin()];
  const args = [
    ...lead, 'csi',
    '--endpoint', `unix://${join(opts.endpointDir ?? opts.dir, 'csi.sock')}`,
    ...(opts.controller ? [] : ['--node-id', opts.nodeId ?? 'node-1', '--state-dir', opts.stateDir ?? join(opts.dir, 'state')]),
    '--health-port', '0',
    '--health-host', '127.0.0.1',
    ...(opts.args ?? []),
  ];
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOARD_LOG_LEVEL: 'debug' } });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const line = await new Promise<Record<string, unknown>>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`hoard csi did not start within 20 s:\n${stderr}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const nl = stdout.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        ok(JSON.parse(stdout.slice(0, nl)) as Record<string, unknown>);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`hoard csi exited with ${code}:\n${stderr}`));
    });
  });
  return {
    child,
    pid: child.pid!,
    socket,
    health: String(line.health),
    logs: () => stderr,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

type Call = (req: object) => Promise<any>;

export interface CsiClient {
  identity: Record<string, Call>;
  node: Record<string, Call>;
  controller: Record<string, Call>;
  close(): void;
}

function promisifyClient(client: Client): Record<string, Call> {
  return new Proxy({} as Record<string, Call>, {
    get: (_, method: string) => (req: object) =>
      new Promise((ok, fail) => {
        const fn = (client as any)[method] as (req: object, opts: object, cb: (err: ServiceError | null, res: unknown) => void) => void;
        fn.call(client, req, { deadline: Date.now() + 45_000 }, (err, res) => (err ? fail(err) : ok(res)));
      }),
  });
}

export function csiClient(socket: string): CsiClient {
  const { Identity, Node, Controller } = loadCsi();
  const identity = new Identity(`unix://${socket}`, credentials.createInsecure());
  const node = new Node(`unix://${socket}`, credentials.createInsecure());
  const controller = new Controller(`unix://${socket}`, credentials.createInsecure());
  return {
    identity: promisifyClient(identity),
    node: promisifyClient(node),
    controller: promisifyClient(controller),
    close() {
      identity.close();
      node.close();
      controller.close();
    },
  };
}

/** Resolves to the gRPC status code of a failed call (and fails the test if it succeeded). */
export async function codeOf(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as ServiceError;
    return { code: e.code, details: e.details };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** Mount points under dir, from /proc/self/mountinfo. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p && (p === dir || p.startsWith(`${dir}/`)));
}

/** Processes whose command line mentions dir (FUSE children serving a path under it). */
export async function processesMentioning(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const cmd = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0');
      if (cmd.includes('mount') && cmd.some((a) => a.startsWith(dir))) pids.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return pids;
}

/** Last-resort cleanup for afterAll: detach mounts under dir and stop FUSE children we started. */
export async function forceCleanup(dir: string): Promise<void> {
  for (const pid of await processesMentioning(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const m of (await mountsUnder(dir)).reverse()) {
    await run('umount', ['-l', m]).catch(() => run('fusermount', ['-uz', m]).catch(() => undefined));
  }
}

/** Polls fn until it returns a truthy value or the bound passes. */
export async function waitFor<T>(fn: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
}
