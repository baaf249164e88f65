import { describe, expect, it } from 'vitest';
import { workerConfigFromFlags } from '../worker/server/config.js';

const base = { id: 'w0', listen: '127.0.0.1:0', http: '127.0.0.1:0', ufs: ['data=file:///tmp'] };

describe('hoard worker --ufs-read-ahead', () => {
  it('defaults to 16Mi and takes 0 to turn read-ahead off', async () => {
    expect((await workerConfigFromFlags(base)).ufsReadAheadBytes).toBe(16 * 2 ** 20);
    expect((await workerConfigFromFlags({ ...base, ufsReadAhead: '0' })).ufsReadAheadBytes).toBe(0);
    expect((await workerConfigFromFlags({ ...base, ufsReadAhead: '4Mi' })).ufsReadAheadBytes).toBe(4 * 2 ** 20);
  });

  it('refuses a value past the longest ranged read, naming the flag and the range', async () => {
    await expect(workerConfigFromFlags({ ...base, ufsReadAhead: '32Mi' })).rejects.toThrow(/--ufs-read-ahead: 32Mi is out of range; use 0 \(off\) to 16Mi/);
    await expect(workerConfigFromFlags({ ...base, ufsReadAhead: 'lots' })).rejects.toThrow(/--ufs-read-ahead/);
  });
});
