import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MountTable } from '../../lib/mounts.js';
import { packageRoot } from '../../lib/root.js';

export interface S3Server {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  port: number;
  accessKeyId: string;
  secretAccessKey: string;
  putObject(bucket: string, key: string, body: Buffer | string): Promise<void>;
  createBucket(bucket: string): Promise<void>;
  /**
   * Freezes the server process (SIGSTOP): connections are still accepted by the kernel but
   * nothing answers, which is how a hung store looks. thaw() (SIGCONT) lets it carry on.
   */
  freeze(): void;
  thaw(): void;
  /** Stops the server process but keeps port and data, so restart() can bring it back. */
  halt(): Promise<void>;
  /** (Re)starts on the same port with the same data; works whether running or halted. */
  restart(): Promise<void>;
  /** Stops the server for good and deletes its data. */
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 20_000;
// s3rver's built-in account; the server accepts these and rejects any other key.
const ACCESS_KEY_ID = 'S3RVER';
const SECRET_ACCESS_KEY = 'S3RVER';

/** Starts s3rver in a child process on 127.0.0.1 (a real S3-protocol server for tests). */
export async function startS3Server(opts: { buckets?: string[] } = {}): Promise<S3Server> {
  const buckets = opts.buckets ?? [];
  const dataDir = await mkdtemp(join(tmpdir(), 'hoard-s3rver-'));
  let child: ChildProcess | undefined;
  let port = 0;
  let client: S3Client | undefined;
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  const launch = async (): Promise<void> => {
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    for (;;) {
      try {
        const started = await spawnServer(dataDir, port, buckets, deadline);
        child = started.child;
        port = started.port;
        return;
      } catch (e) {
        // On restart the old socket may linger for a moment; anything else is fatal.
        if (!String(e).includes('EADDRINUSE') || Date.now() > deadline) throw e;
        await sleep(200);
      }
    }
  };
  const halt = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c) {
      c.kill('SIGCONT'); // a frozen server must run to handle SIGTERM
      await killChild(c);
    }
  };
  const signal = (sig: NodeJS.Signals): void => {
    if (!child) throw new Error('s3rver is not running');
    child.kill(sig);
  };

  try {
    await launch();
  } catch (e) {
    await rm(dataDir, { recursive: true, force: true });
    process.off('exit', killOnExit);
    throw e;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const s3 = (): S3Client =>
    (client ??= new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    }));

  return {
    endpoint,
    port,
    accessKeyId: ACCESS_KEY_ID,
    secretAccessKey: SECRET_ACCESS_KEY,
    async putObject(bucket, key, body) {
      await s3().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: typeof body === 'string' ? Buffer.from(body) : body }));
    },
    async createBucket(bucket) {
      await s3().send(new CreateBucketCommand({ Bucket: bucket }));
    },
    freeze: () => signal('SIGSTOP'),
    thaw: () => signal('SIGCONT'),
    halt,
    async restart() {
      await halt();
      // Keep-alive sockets to the old process are dead now; a fresh client avoids reusing them.
      client?.destroy();
      client = undefined;
      await launch();
    },
    async stop() {
      await halt();
      client?.destroy();
      client = undefined;
      process.off('exit', killOnExit);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function spawnServer(dataDir: string, port: number, buckets: string[], deadline: number): Promise<{ child: ChildProcess; port: number }> {
  const script = join(packageRoot(), 'test', 'support', 's3rver-main.mjs');
  const child = spawn(process.execPath, ['--openssl-legacy-provider', script, dataDir, String(port), ...buckets], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  try {
    const bound = await listeningPort(child, Math.max(0, deadline - Date.now()));
    await waitForPort(bound, deadline);
    return { child, port: bound };
  } catch (e) {
    await killChild(child);
    throw e;
  }
}

/**
 * The port a child s3rver announces with its {"event":"listening","port":N} line on stdout;
 * rejects with the tail of its stderr when it exits first or stays silent for `timeoutMs`.
 */
export function listeningPort(child: ChildProcess, timeoutMs: number): Promise<number> {
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  return new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('"listening"'));
      if (line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited (${code ?? signal}) before listening: ${stderr}`));
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function waitForPort(port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect({ host: '127.0.0.1', port }, () => {
        sock.destroy();
        resolve(true);
      });
      sock.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`s3rver port ${port} does not accept connections`);
    await sleep(50);
  }
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * Writes a one-mount table `s3 -> s3://<bucket>/<prefix>` for workers, with the server's keys as
 * credential files in `<dir>/creds` (never in the table), and returns the table and its file.
 */
export async function writeS3MountTable(
  dir: string,
  s3: S3Server,
  opts: { uri?: string; endpoint?: string } = {},
): Promise<{ mounts: MountTable; mountsFile: string }> {
  const creds = join(dir, 'creds');
  await mkdir(creds, { mode: 0o700 });
  await writeFile(join(creds, 'accessKeyId'), s3.accessKeyId);
  await writeFile(join(creds, 'secretAccessKey'), s3.secretAccessKey);
  const mounts: MountTable = {
    mounts: [{ name: 's3', uri: opts.uri ?? 's3://ds/set', options: { endpoint: opts.endpoint ?? s3.endpoint, region: 'us-east-1', pathStyle: 'true' }, credentialsDir: creds }],
  };
  const mountsFile = join(dir, 'mounts.json');
  await writeFile(mountsFile, JSON.stringify(mounts));
  return { mounts, mountsFile };
}
