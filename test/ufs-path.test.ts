import { describe, expect, it } from 'vitest';
import { normalizePath } from '../worker/ufs/path.js';
import { errorCode } from './support/ufs-helpers.js';

describe('normalizePath', () => {
  it('returns the canonical /a/b form', () => {
    expect(normalizePath('/')).toBe('/');
    expect(normalizePath('//')).toBe('/');
    expect(normalizePath('/a/b')).toBe('/a/b');
    expect(normalizePath('/a//b/')).toBe('/a/b');
    expect(normalizePath('/./a/./b/.')).toBe('/a/b');
    expect(normalizePath('/a..b/c.')).toBe('/a..b/c.');
  });

  it('refuses .., NUL and relative paths with INVALID_ARGUMENT', async () => {
    for (const bad of ['/..', '/a/../b', '/a/..', '..', 'a/b', '', '/a\0b', '/\0']) {
      expect(await errorCode(() => normalizePath(bad)), bad).toBe('INVALID_ARGUMENT');
    }
  });

  it('names the problem and the fix', () => {
    expect(() => normalizePath('a/b')).toThrow(/must be absolute, like "\/a\/b"/);
    expect(() => normalizePath('/x/../y')).toThrow(/"\.\." is not allowed/);
  });
});
