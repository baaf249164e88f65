// The ceiling of this FUSE stack: a trivial fuse-native filesystem serving the benchmark's
// sizes from memory, so Hoard's FUSE numbers can be read against what fuse-native can do at all.
import { createRequire } from 'node:module';
import { benchContent } from './content.js';

// fuse-native ships no types; it is only used here through its small documented surface.
const Fuse = createRequire(import.meta.url)('fuse-native');

const [dir, bigBytes, smallCount, smallBytes] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])];
const files = new Map<string, Buffer>();
files.set('/big.bin', benchContent('big.bin', bigBytes));
for (let i = 0; i < smallCount; i++) files.set(`/small/f${i}.bin`, benchContent(`small/f${i}.bin`, smallBytes));

const now = new Date();
const dirAttr = { mtime: now, atime: now, ctime: now, nlink: 2, size: 4096, mode: 0o40755, uid: 0, gid: 0 };
const ops = {
  getattr(path: string, cb: (err: number, st?: unknown) => void) {
    if (path === '/' || path === '/small') return process.nextTick(cb, 0, dirAttr);
    const f = files.get(path);
    if (!f) return process.nextTick(cb, Fuse.ENOENT);
    process.nextTick(cb, 0, { ...dirAttr, nlink: 1, size: f.length, mode: 0o100644 });
  },
  readdir(path: string, cb: (err: number, names?: string[]) => void) {
    if (path === '/') return process.nextTick(cb, 0, ['big.bin', 'small']);
    if (path === '/small') return process.nextTick(cb, 0, [...files.keys()].filter((k) => k.startsWith('/small/')).map((k) => k.slice(7)));
    process.nextTick(cb, Fuse.ENOENT);
  },
  open(_path: string, _flags: number, cb: (err: number, fd: number) => void) {
    process.nextTick(cb, 0, 1);
  },
  release(_path: string, _fd: number, cb: (err: number) => void) {
    process.nextTick(cb, 0);
  },
  read(path: string, _fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) {
    const f = files.get(path);
    if (!f) return process.nextTick(cb, Fuse.ENOENT);
    const n = f.copy(buf, 0, pos, Math.min(f.length, pos + len));
    process.nextTick(cb, n);
  },
};
const fuse = new Fuse(dir, ops, { force: true, mkdir: true });
fuse.mount((err: Error | null) => {
  if (err) {
    process.stderr.write(`memfs: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(JSON.stringify({ event: 'mounted', dir }) + '\n');
});
const stop = () => fuse.unmount(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
