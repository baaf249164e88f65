// Runs s3rver (an S3-protocol server) for tests: argv = data dir, port (0 = pick), bucket names.
// Prints one JSON line {"event":"listening","port":N} on stdout once it accepts connections.
import process from 'node:process';
import S3rver from 's3rver';

const [directory, port, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(port),
  directory,
  silent: true,
  configureBuckets: buckets.map((name) => ({ name, configs: [] })),
});

const { port: bound } = await server.run();
process.stdout.write(JSON.stringify({ event: 'listening', port: bound }) + '\n');

const shutdown = () => server.close().finally(() => process.exit(0));
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// The parent holds our stdin: when it dies (crashed test run), we go too instead of lingering.
process.stdin.on('end', shutdown);
process.stdin.resume();
