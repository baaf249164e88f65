// The sample dataset `hoard up` serves when given no storage, so a fresh machine has something
// real to read: text, many small files, one large binary, nested folders. Content is a pure
// function of the file name, so every run (and every machine) produces identical bytes.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

const MiB = 1024 * 1024;
const VERSION = 'hoard-sample-v1';
const MARKER = '.hoard-sample';

/** Deterministic pseudo-random bytes (xorshift32 seeded from the name). */
export function sampleBytes(name: string, size: number): Buffer {
  let x = createHash('sha256').update(name).digest().readUInt32LE(0) || 1;
  const words = new Uint32Array(Math.ceil(size / 4));
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return Buffer.from(words.buffer, 0, size);
}

function lines(n: number): string {
  return Array.from({ length: n }, (_, i) => `line ${String(i + 1).padStart(5, '0')}: the quick brown fox jumps over the lazy dog`).join('\n') + '\n';
}

const README = `This is Hoard's sample dataset, created by \`hoard up\` because no --ufs was given.

It lives as plain files in the cache directory and is served through Hoard's cache workers and
FUSE mount, exactly like an S3 bucket or NFS folder would be. Try:

  cat README.txt
  sha256sum -c MANIFEST.sha256     # every byte checked through the cache
  dd if=binary/blob-32MiB.bin of=/dev/null bs=1M   # twice: the second read comes from cache

To cache your own data:  hoard up --ufs s3://bucket/prefix  or  hoard up --ufs file:///data
`;

/** Every sample file and its content, in a stable order. */
export function sampleFiles(): { path: string; content: Buffer }[] {
  const files: { path: string; content: Buffer }[] = [
    { path: 'README.txt', content: Buffer.from(README) },
    { path: 'text/hello.txt', content: Buffer.from('Hello from Hoard!\n') },
    { path: 'text/lines-1000.txt', content: Buffer.from(lines(1000)) },
    { path: 'nested/a/b/c/deep.txt', content: Buffer.from('You found the deepest file.\n') },
    { path: 'binary/blob-32MiB.bin', content: sampleBytes('binary/blob-32MiB.bin', 32 * MiB) },
  ];
  for (let i = 0; i < 16; i++) {
    const path = `shards/shard-${String(i).padStart(3, '0')}.bin`;
    files.push({ path, content: sampleBytes(path, 256 * 1024) });
  }
  return files;
}

export interface SampleDataset {
  dir: string;
  files: number;
  bytes: number;
  created: boolean;
}

/**
 * Creates the sample under dir unless a complete one is already there. Files are written to a
 * temporary name and renamed, and the marker goes last, so an interrupted run is redone in full;
 * other files in dir are left alone.
 */
export async function ensureSampleDataset(dir: string): Promise<SampleDataset> {
  const files = sampleFiles();
  const bytes = files.reduce((n, f) => n + f.content.length, 0);
  const done = await readFile(join(dir, MARKER), 'utf8').catch(() => '');
  if (done.trim() === VERSION) return { dir, files: files.length + 1, bytes, created: false };

  await rm(join(dir, MARKER), { force: true });
  const manifest: string[] = [];
  for (const f of files) {
    const target = join(dir, f.path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(`${target}.tmp`, f.content);
    await rename(`${target}.tmp`, target);
    manifest.push(`${createHash('sha256').update(f.content).digest('hex')}  ${f.path}`);
  }
  await writeFile(join(dir, 'MANIFEST.sha256'), manifest.join('\n') + '\n');
  await writeFile(join(dir, MARKER), VERSION + '\n');
  return { dir, files: files.length + 1, bytes, created: true };
}
