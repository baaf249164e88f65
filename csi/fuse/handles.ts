import type { FileInfo } from '../../worker/client/types.js';

export interface OpenFile {
  path: string;
  /** The version seen at open: every read of this handle asks for exactly these bytes. */
  info: FileInfo;
}

/**
 * Open file handles. FUSE carries a uint32 `fh`; 0 means "no handle" to fuse-native, so ids
 * start at 1 and wrap, skipping ids that are still open.
 */
export class FileHandles {
  private readonly open = new Map<number, OpenFile>();
  private next = 1;

  add(file: OpenFile): number {
    for (;;) {
      const fh = this.next;
      this.next = this.next >= 0xffff_fffe ? 1 : this.next + 1;
      if (!this.open.has(fh)) {
        this.open.set(fh, file);
        return fh;
      }
    }
  }

  get(fh: number): OpenFile | undefined {
    return this.open.get(fh);
  }

  release(fh: number): void {
    this.open.delete(fh);
  }

  get size(): number {
    return this.open.size;
  }
}
