import { HoardError } from '../../lib/errors.js';

/** Reads connector options (always strings in the mount table) with errors that name the field. */
export class MountOptions {
  constructor(
    private readonly mountName: string,
    private readonly values: Record<string, string> = {},
  ) {}

  string(key: string): string | undefined {
    const v = this.values[key];
    return v === undefined || v === '' ? undefined : v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.string(key);
    if (v === undefined) return fallback;
    if (v === 'true') return true;
    if (v === 'false') return false;
    throw this.bad(key, v, '"true" or "false"');
  }

  int(key: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.string(key);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw this.bad(key, v, `an integer from ${min} to ${max}`);
    return n;
  }

  url(key: string): URL | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    try {
      const u = new URL(v);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
      return u;
    } catch {
      throw this.bad(key, v, 'an http:// or https:// URL, like "https://s3.example.com"');
    }
  }

  private bad(key: string, value: string, want: string): HoardError {
    return new HoardError('INVALID_ARGUMENT', `mount "${this.mountName}" options.${key}: "${value}" must be ${want}`);
  }
}
