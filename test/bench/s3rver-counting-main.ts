// s3rver (as test/support/s3rver-main.mjs runs it) plus a request counter, for the benchmark:
// every request is classified (GET object, HEAD, LIST, PUT, other) and the bytes sent back are
// summed; GET /__bench/counts answers the running totals as JSON. Counting happens in the server
// itself, so it adds no hop and no copy to the data path.
// argv: data dir, port (0 = pick), bucket names. Prints {"event":"listening","port":N} once ready.
import { createWriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { S3Counts } from './s3.js';

interface KoaContext {
  method: string;
  path: string;
  body: unknown;
  type: string;
  req: IncomingMessage;
  res: ServerResponse;
}
type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;
interface S3rverInstance {
  middleware: Middleware[];
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}

// s3rver is CommonJS without types; it is a Koa app, so a middleware put first sees every request.
const S3rver = createRequire(import.meta.url)('s3rver') as new (opts: object) => S3rverInstance;

const [directory, port, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(port),
  directory,
  silent: true,
  configureBuckets: buckets.map((name) => ({ name, configs: [] })),
});

const counts: S3Counts = { get: 0, head: 0, list: 0, put: 0, other: 0, bytesOut: 0 };
// HOARD_BENCH_S3_TRACE_FILE: one line per request (method, url, range, status, bytes sent).
const traceFile = process.env.HOARD_BENCH_S3_TRACE_FILE;
const trace = traceFile ? createWriteStream(traceFile, { flags: 'a' }) : undefined;
server.middleware.unshift(async (ctx, next) => {
  if (ctx.path === '/__bench/counts') {
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(counts);
    return;
  }
  // Path-style requests only (every client here is configured that way): /bucket[/key].
  const parts = ctx.path.split('/').filter(Boolean);
  if (ctx.method === 'GET') {
    if (parts.length >= 2) counts.get++;
    else if (parts.length === 1) counts.list++;
    else counts.other++;
  } else if (ctx.method === 'HEAD') counts.head++;
  else if (ctx.method === 'PUT') counts.put++;
  else counts.other++;
  const sock = ctx.req.socket;
  const before = sock.bytesWritten;
  const t0 = performance.now();
  ctx.res.once('close', () => {
    const sent = sock.bytesWritten - before;
    counts.bytesOut += sent;
    const range = ctx.req.headers.range ?? '-';
    trace?.write(`${new Date().toISOString()} ${ctx.method} ${ctx.req.url} ${range} ${ctx.res.statusCode} ${sent} ${(performance.now() - t0).toFixed(1)}ms\n`);
  });
  await next();
});

const { port: bound } = await server.run();
process.stdout.write(JSON.stringify({ event: 'listening', port: bound }) + '\n');

const shutdown = () => {
  server.close().finally(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// The parent holds our stdin: when it dies (crashed or killed run), we go too instead of lingering.
process.stdin.on('end', shutdown);
process.stdin.resume();
