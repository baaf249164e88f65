// The body of the short-circuit read thread (page-read-thread.ts): opens, reads and checks page
// files into a SharedArrayBuffer the main thread handed over. Running here, the copies out of
// tmpfs and the CRCs of read-ahead pieces use the second core instead of the thread that answers
// every FUSE request.
import { parentPort } from 'node:worker_threads';
import { PageBuffers, readPageSync, type PageRead, type PageVerdict } from './page-read.js';

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

const bufs = new PageBuffers();

parentPort?.on('message', (job: ReadJob) => {
  const span = job.pages.length ? job.pages[job.pages.length - 1]!.to - job.pages[0]!.offset : 0;
  const out = Buffer.from(job.buf, job.outOffset, span);
  let done: ReadDone = { id: job.id, verdict: 'ok' };
  for (const p of job.pages) {
    const verdict = readPageSync(p, out, bufs);
    if (verdict !== 'ok') {
      done = { id: job.id, verdict, key: p.key };
      break;
    }
  }
  parentPort!.postMessage(done);
});
