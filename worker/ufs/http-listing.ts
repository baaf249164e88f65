import { HoardError } from '../../lib/errors.js';
import { childPath, normalizePath } from './path.js';

/**
 * The directory tree implied by a flat list of file paths (HTTP servers cannot list, so the
 * mount names its files in options.files or a manifest). Directories are every parent path.
 */
export class FileTree {
  readonly files = new Set<string>();
  /** dir path -> child name -> isDir */
  private readonly dirs = new Map<string, Map<string, boolean>>([['/', new Map()]]);

  constructor(paths: string[]) {
    for (const p of paths) this.add(p);
  }

  isDir(p: string): boolean {
    return this.dirs.has(p);
  }

  isFile(p: string): boolean {
    return this.files.has(p);
  }

  children(dir: string): { path: string; name: string; isDir: boolean }[] {
    const kids = this.dirs.get(dir);
    if (!kids) return [];
    return [...kids.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, isDir]) => ({ path: childPath(dir, name), name, isDir }));
  }

  private add(p: string): void {
    // A path listed as a file and also used as a directory is treated as a directory.
    if (p === '/' || this.dirs.has(p)) return;
    this.files.add(p);
    const parts = p.slice(1).split('/');
    let dir = '/';
    for (let i = 0; i < parts.length; i++) {
      const isDir = i < parts.length - 1;
      const kids = this.dirs.get(dir)!;
      if (isDir) {
        const sub = childPath(dir, parts[i]);
        if (this.files.delete(sub)) kids.set(parts[i], true);
        if (!this.dirs.has(sub)) this.dirs.set(sub, new Map());
        kids.set(parts[i], true);
        dir = sub;
      } else if (!kids.get(parts[i])) {
        kids.set(parts[i], false);
      }
    }
  }
}

/**
 * Parses a list of relative paths (manifest lines or options.files entries); blank lines and
 * '#' comments are skipped, anything that is not a clean relative path is an error naming `what`.
 */
export function parsePathList(lines: string[], what: string): string[] {
  const out: string[] = [];
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    try {
      const p = normalizePath('/' + line.replace(/^\/+/, ''));
      if (p !== '/') out.push(p);
    } catch (e) {
      throw new HoardError('INVALID_ARGUMENT', `${what} entry ${i + 1} "${line}": ${(e as Error).message}`);
    }
  });
  return out;
}
