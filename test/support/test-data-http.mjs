// The operator suite's test data server: a static HTTP server for Hoard's http:// under-storage.
// The same file runs in a Pod of the test's namespace (shipped in a ConfigMap, run by the image's
// `node` on a real cluster, by the emulator's kubelet locally) and is imported by the tests for
// the expected bytes. Plain JavaScript with no imports outside node: so a bare `node` runs it.
//
//   node test-data-http.mjs --listen 0.0.0.0:8080 --files files.json
//
// files.json maps absolute paths to sizes ({"/a.bin": 300000, "/sub/b.bin": 700000}); every file's
// bytes are generated from its path (fileContent), so the ConfigMap stays small. Answers HEAD and
// GET with single byte ranges (206, 416 past the end, 200 for no or multiple ranges), ETag and
// Last-Modified, and GET /.manifest: one relative path per line, the listing format of the http
// under-storage's `options.manifest`. Anything else is 404/405; it never crashes on a request.
import { Buffer } from 'node:buffer';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { pathToFileURL, URL } from 'node:url';

export const MANIFEST = '.manifest';
const MAX_TOTAL_BYTES = 512 * 2 ** 20;
const MAX_FILES = 10_000;
const LAST_MODIFIED = new Date(Date.UTC(2026, 0, 1)).toUTCString();

/** FNV-1a of the path: the seed of its bytes. */
function seedOf(path) {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(path, 'utf8')) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return h || 1;
}

/** The bytes of a file of the data server: xorshift32 from the path's seed. */
export function fileContent(path, size) {
  const out = Buffer.alloc(size);
  let x = seedOf(path);
  for (let i = 0; i < size; i++) {
    if ((i & 3) === 0) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
    }
    out[i] = (x >>> (8 * (i & 3))) & 0xff;
  }
  return out;
}

/** Validates a files.json object; throws naming the bad entry. */
export function checkFiles(files) {
  if (!files || typeof files !== 'object' || Array.isArray(files)) throw new Error('files: expected an object {"/path": size}');
  const entries = Object.entries(files);
  if (entries.length > MAX_FILES) throw new Error(`files: at most ${MAX_FILES} files`);
  let total = 0;
  for (const [path, size] of entries) {
    const parts = path.split('/').slice(1);
    if (!path.startsWith('/') || path.length > 1024 || parts.some((p) => p === '' || p === '.' || p === '..' || p === MANIFEST)) {
      throw new Error(`files: "${path}" must be an absolute path without empty, "." or ".." parts (and not /${MANIFEST})`);
    }
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`files: "${path}" size must be a non-negative integer`);
    total += size;
  }
  if (total > MAX_TOTAL_BYTES) throw new Error(`files: ${total} bytes in total, at most ${MAX_TOTAL_BYTES}`);
  return entries;
}

/** Parses a Range header for a file of `size` bytes: {start,end} | 'unsatisfiable' | undefined (serve it all). */
function parseRange(header, size) {
  const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(String(header ?? '').trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined; // invalid: ignored, as RFC 9110 says
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

export function createDataServer(files) {
  const content = new Map(checkFiles(files).map(([path, size]) => [path, { body: fileContent(path, size), etag: `"${seedOf(path).toString(16)}-${size}"` }]));
  const manifest = [...content.keys()].map((p) => p.slice(1)).sort().join('\n') + '\n';
  return createServer((req, res) => {
    let path;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400).end('bad path\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === `/${MANIFEST}`) {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(manifest) });
      res.end(req.method === 'HEAD' ? undefined : manifest);
      return;
    }
    const file = content.get(path);
    if (!file) {
      res.writeHead(404).end(req.method === 'HEAD' ? undefined : 'not found\n');
      return;
    }
    const size = file.body.length;
    const common = { ETag: file.etag, 'Last-Modified': LAST_MODIFIED, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
    const range = req.method === 'GET' ? parseRange(req.headers.range, size) : undefined;
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...common, 'Content-Range': `bytes */${size}` }).end();
      return;
    }
    if (range) {
      res.writeHead(206, { ...common, 'Content-Range': `bytes ${range.start}-${range.end}/${size}`, 'Content-Length': range.end - range.start + 1 });
      res.end(file.body.subarray(range.start, range.end + 1));
      return;
    }
    res.writeHead(200, { ...common, 'Content-Length': size });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  });
}

function flag(name) {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? process.argv[i + 1] : undefined;
  if (v === undefined) {
    process.stderr.write(`test-data-http: --${name} is required (usage: --listen HOST:PORT --files FILE.json)\n`);
    process.exit(2);
  }
  return v;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const listen = flag('listen');
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon);
  const port = Number(listen.slice(colon + 1));
  if (colon < 0 || !Number.isSafeInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`test-data-http: --listen "${listen}" must be HOST:PORT, e.g. 0.0.0.0:8080\n`);
    process.exit(2);
  }
  let server;
  try {
    server = createDataServer(JSON.parse(readFileSync(flag('files'), 'utf8')));
  } catch (e) {
    process.stderr.write(`test-data-http: --files: ${e.message}\n`);
    process.exit(2);
  }
  server.listen(port, host, () => {
    const a = server.address();
    process.stdout.write(JSON.stringify({ event: 'listening', host: a.address, port: a.port }) + '\n');
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
