// The body of the short-circuit read thread (page-read-thread.ts): opens, reads and checks page
// files into a SharedArrayBuffer the main thread handed over. Running here, the copies out of
// tmpfs and the CRCs of read-ahead pieces use the second core instead of the thread that answers
// every FUSE request.
import { closeSync, openSync, readvSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { checkPage, wholePage, type PageRead, type PageVerdict } from './page-check.js';

export interface ReadJob {
  id: number;
  buf: SharedArrayBuffer;
  /** Where the read's output (offset `pages[i].offset`) starts in buf. */
  outOffset: number;
  pages: PageRead[];
}

export interface ReadDone {
  id: number;
  verdict: PageVerdict;
  key?: string;
}

let header = Buffer.allocUnsafe(4096);
let scratch = Buffer.allocUnsafe(0);

function readPage(p: PageRead, out: Buffer): PageVerdict {
  if (header.length < p.headerLength) header = Buffer.allocUnsafe(p.headerLength);
  const h = header.subarray(0, p.headerLength);
  const whole = wholePage(p);
  let target: Buffer;
  if (whole) target = out.subarray(p.from - p.offset, p.to - p.offset);
  else {
    if (scratch.length < p.expected) scratch = Buffer.allocUnsafe(p.expected);
    target = scratch.subarray(0, p.expected);
  }
  let fd: number;
  try {
    fd = openSync(p.file, 'r');
  } catch {
    return 'missing';
  }
  try {
    if (readvSync(fd, [h, target], 0) !== p.headerLength + p.expected) return 'header';
  } catch {
    return 'missing';
  } finally {
    closeSync(fd);
  }
  const verdict = checkPage(p, h, target);
  if (verdict === 'ok' && !whole) target.copy(out, p.from - p.offset, p.from - p.pageStart, p.to - p.pageStart);
  return verdict;
}

parentPort?.on('message', (job: ReadJob) => {
  const span = job.pages.length ? job.pages[job.pages.length - 1]!.to - job.pages[0]!.offset : 0;
  const out = Buffer.from(job.buf, job.outOffset, span);
  let done: ReadDone = { id: job.id, verdict: 'ok' };
  for (const p of job.pages) {
    const verdict = readPage(p, out);
    if (verdict !== 'ok') {
      done = { id: job.id, verdict, key: p.key };
      break;
    }
  }
  parentPort!.postMessage(done);
});
