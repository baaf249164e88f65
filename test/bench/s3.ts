// The benchmark's S3 server: s3rver in a child process with a request counter (see
// s3rver-counting-main.ts), so each pass can show how many requests a system made.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { listeningPort } from '../support/s3server.js';

export interface S3Counts {
  /** GET of an object (whole or ranged). */
  get: number;
  /** HEAD of an object or bucket. */
  head: number;
  /** GET of a bucket: ListObjects(V2), also GetBucketLocation and the like. */
  list: number;
  put: number;
  other: number;
  /** Bytes the server wrote back, headers included. */
  bytesOut: number;
}

export interface CountingS3 {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  pid: number;
  counts(): Promise<S3Counts>;
  stop(): Promise<void>;
}

export function diffCounts(after: S3Counts, before: S3Counts): S3Counts {
  return {
    get: after.get - before.get,
    head: after.head - before.head,
    list: after.list - before.list,
    put: after.put - before.put,
    other: after.other - before.other,
    bytesOut: after.bytesOut - before.bytesOut,
  };
}

export function totalRequests(c: S3Counts): number {
  return c.get + c.head + c.list + c.put + c.other;
}

/**
 * Starts s3rver on 127.0.0.1 with `buckets`; its data lives under `work`. With `traceFile`, the
 * server also logs one line per request there (method, url, range, status, bytes, duration).
 */
export async function startCountingS3(work: string, buckets: string[], traceFile?: string): Promise<CountingS3> {
  const dataDir = await mkdtemp(join(work, 's3rver-'));
  const script = new URL('./s3rver-counting-main.js', import.meta.url).pathname;
  // --openssl-legacy-provider: s3rver hashes ListObjectsV2 continuation tokens with an algorithm
  // OpenSSL 3 only has in its legacy provider (as in test/support/s3server.ts).
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', script, dataDir, '0', ...buckets], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, HOARD_BENCH_S3_TRACE_FILE: traceFile ?? '' },
  });
  const port = await listeningPort(child, 20_000).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  child.stdout!.resume();
  const endpoint = `http://127.0.0.1:${port}`;
  let stopped: Promise<void> | undefined;
  return {
    endpoint,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    pid: child.pid!,
    async counts() {
      const res = await fetch(`${endpoint}/__bench/counts`);
      if (!res.ok) throw new Error(`s3rver counts: HTTP ${res.status}`);
      return (await res.json()) as S3Counts;
    },
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          const force = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(force);
        }
        await rm(dataDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
