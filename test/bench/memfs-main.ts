// The ceiling of this FUSE stack: a trivial fuse-native filesystem serving the benchmark's
// sizes from memory, so Hoard's FUSE numbers can be read against what fuse-native can do at all.
// It mounts through the same createFuse + fuseOptionList as Hoard, with the same options as the
// benchmark's Hoard mount (fs-options.ts), so only the work behind each FUSE call differs.
// argv: mount dir, big file bytes, small file count, small file bytes.
import { createFuse, type FuseInstance } from '../../csi/fuse/fuse-native.js';
import { fuseOptionList } from '../../csi/fuse/options.js';
import { benchContent } from './content.js';
import { benchFsOptions } from './fs-options.js';

const ENOENT = -2;

const [dir, bigBytes, smallCount, smallBytes] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])];
const files = new Map<string, Buffer>();
files.set('/big.bin', benchContent('big.bin', bigBytes));
for (let i = 0; i < smallCount; i++) files.set(`/small/f${i}.bin`, benchContent(`small/f${i}.bin`, smallBytes));
const smallNames = [...files.keys()].filter((k) => k.startsWith('/small/')).map((k) => k.slice(7));

const now = new Date();
const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;
const dirAttr = { mtime: now, atime: now, ctime: now, nlink: 2, size: 4096, blocks: 8, mode: 0o40755, uid, gid };
const fileAttr = new Map([...files].map(([k, f]) => [k, { ...dirAttr, nlink: 1, size: f.length, blocks: Math.ceil(f.length / 512), mode: 0o100644 }]));

const ops = {
  getattr(path: string, cb: (err: number, st?: unknown) => void) {
    if (path === '/' || path === '/small') return process.nextTick(cb, 0, dirAttr);
    const st = fileAttr.get(path);
    if (!st) return process.nextTick(cb, ENOENT);
    process.nextTick(cb, 0, st);
  },
  readdir(path: string, cb: (err: number, names?: string[]) => void) {
    if (path === '/') return process.nextTick(cb, 0, ['big.bin', 'small']);
    if (path === '/small') return process.nextTick(cb, 0, smallNames);
    process.nextTick(cb, ENOENT);
  },
  open(_path: string, _flags: number, cb: (err: number, fd: number) => void) {
    process.nextTick(cb, 0, 1);
  },
  release(_path: string, _fd: number, cb: (err: number) => void) {
    process.nextTick(cb, 0);
  },
  read(path: string, _fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) {
    const f = files.get(path);
    if (!f) return process.nextTick(cb, ENOENT);
    const n = pos >= f.length ? 0 : f.copy(buf, 0, pos, Math.min(f.length, pos + len));
    process.nextTick(cb, n);
  },
};

const options = fuseOptionList({ ...benchFsOptions, fsName: 'hoard-bench-ceiling' });
const fuse: FuseInstance = createFuse(dir, ops, options, benchFsOptions.opTimeoutMs ?? 60_000);
fuse.mount((err) => {
  if (err) {
    process.stderr.write(`memfs: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(JSON.stringify({ event: 'mounted', dir, options }) + '\n');
});
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  fuse.unmount(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
