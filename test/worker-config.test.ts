import { describe, expect, it } from 'vitest';
import { parseTier, workerConfigFromFlags } from '../worker/server/config.js';

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

describe('hoard worker --tier MEM on a RAM disk', () => {
  it('takes MEM:/dir:QUOTA[:HIGH:LOW] as a memory tier kept as page files in that directory', () => {
    expect(parseTier('MEM:256Mi')).toEqual({ medium: 'MEM', quota: 256 * 2 ** 20 });
    expect(parseTier('MEM:/dev/shm/hoard/w0:1Gi')).toEqual({ medium: 'MEM', path: '/dev/shm/hoard/w0', quota: 2 ** 30 });
    expect(parseTier('mem:/dev/shm/w:1Gi:0.9:0.7')).toMatchObject({ medium: 'MEM', high: 0.9, low: 0.7 });
  });

  it('refuses a relative directory, naming the flag and the forms it takes', () => {
    expect(() => parseTier('MEM:shm/w0:1Gi')).toThrow(/--tier: "MEM:shm\/w0:1Gi": the directory must be an absolute path; use MEM:512Mi, MEM:\/dev\/shm\/hoard:512Mi/);
  });
});

describe('hoard worker --short-circuit-dir', () => {
  it('is taken with a RAM-disk MEM tier, and refused without one or when relative, naming the flag', async () => {
    const ram = { ...base, tier: ['MEM:/dev/shm/hoard-cfg/w0:64Mi'] };
    expect((await workerConfigFromFlags({ ...ram, shortCircuitDir: '/var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/cache-mem0' })).shortCircuitDir).toBe(
      '/var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/cache-mem0',
    );
    await expect(workerConfigFromFlags({ ...base, tier: ['MEM:64Mi'], shortCircuitDir: '/x' })).rejects.toThrow(/--short-circuit-dir: only means something with a MEM tier on a RAM disk; add e\.g\. --tier MEM:\/dev\/shm/);
    await expect(workerConfigFromFlags({ ...ram, shortCircuitDir: 'pods/u' })).rejects.toThrow(/--short-circuit-dir: "pods\/u" must be an absolute path/);
  });
});
