// The host-path rule for file:// Datasets (lib/host-paths.ts) and the operator's flag for it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HOST_PATH_ALLOW, hostPathPolicy, hostPathRefusal, normaliseHostPath, parseHostPathAllowList, tierHostPaths, tierPathRefusal } from '../lib/host-paths.js';
import { PATH_MAX } from '../lib/limits.js';
import { hoardBin } from '../lib/root.js';

const run = promisify(execFile);
const policy = hostPathPolicy(['/srv', '/mnt/data'], ['/data/kubelet']);

describe('host path rule', () => {
  it('compares normalised paths: /srv allows /srv and /srv/x, not /srvx; "..", "//" and trailing slashes do not get around it', () => {
    expect(hostPathRefusal(policy, '/srv')).toBeUndefined();
    expect(hostPathRefusal(policy, '/srv/x/')).toBeUndefined();
    expect(hostPathRefusal(policy, '/srv//x')).toBeUndefined();
    expect(hostPathRefusal(policy, '/mnt/data/train')).toBeUndefined();
    expect(hostPathRefusal(policy, '/srvx')).toMatch(/^\/srvx is outside the host paths the cluster admin allows \(\/srv, \/mnt\/data\)$/);
    expect(hostPathRefusal(policy, '/srv/../opt')).toMatch(/^\/srv\/\.\.\/opt \(that is \/opt\) is outside/);
    expect(hostPathRefusal(policy, '/srv/../etc/')).toMatch(/\(that is \/etc\) is \/etc \(the node's configuration/);
    expect(hostPathRefusal(policy, 'srv/x')).toMatch(/must be an absolute path/);
    expect(hostPathRefusal(policy, `/srv/${'a/'.repeat(PATH_MAX)}`)).toMatch(/PATH_MAX/);
    expect(hostPathRefusal(policy, '/srv/\0')).toMatch(/must be an absolute path/);
  });

  it('refuses system and kubelet folders, what lies under them and what contains them, whatever the allow-list says', () => {
    const all = hostPathPolicy(['/']);
    for (const p of ['/etc', '/proc/1', '/sys', '/dev/sda', '/run/containerd', '/var/run', '/root/.ssh', '/var/lib/kubelet/pods']) {
      expect(hostPathRefusal(all, p), p).toMatch(/which no Dataset may read$/);
    }
    expect(hostPathRefusal(all, '/var/lib')).toMatch(/^\/var\/lib contains \/var\/lib\/kubelet \(the kubelet's directory/);
    expect(hostPathRefusal(all, '/')).toMatch(/contains/);
    expect(hostPathRefusal(all, '/opt/data')).toBeUndefined();
    expect(hostPathRefusal(policy, '/data/kubelet/pods')).toMatch(/inside \/data\/kubelet \(the kubelet's directory/);
    expect(hostPathRefusal(hostPathPolicy([]), '/srv/x')).toMatch(/the cluster admin allows no host paths/);
  });

  it('refuses CacheRuntime cache tier folders (SSD/HDD with a path, not emptyDir) and their parents', () => {
    const tiers = tierHostPaths([
      { spec: { tieredStore: { levels: [{ medium: 'MEM', quota: '1Gi', path: '/srv/mem' }, { medium: 'SSD', quota: '1Gi', path: '/srv/cache/' }] } } },
      { spec: { tieredStore: { levels: [{ medium: 'HDD', quota: '1Gi', path: '/srv/hdd', emptyDir: true }] } } },
      { spec: {} },
      null,
    ]);
    expect(tiers.map((t) => t.path)).toEqual(['/srv/cache']);
    expect(hostPathRefusal(policy, '/srv/cache/ns_pod-0', tiers)).toMatch(/inside \/srv\/cache \(a CacheRuntime's cache tier folder: cached pages of other datasets\)/);
    expect(hostPathRefusal(policy, '/srv', tiers)).toMatch(/^\/srv contains \/srv\/cache/);
    expect(hostPathRefusal(policy, '/srv/mem', tiers)).toBeUndefined();
  });

  it('refuses a cache tier (read-write on the node) in, under or over node state; the data allow-list does not apply to it', () => {
    expect(tierPathRefusal(policy, '/var/lib/kubelet/cache')).toMatch(/inside \/var\/lib\/kubelet \(the kubelet's directory.*which no cache tier may be written to$/);
    expect(tierPathRefusal(policy, '/data/kubelet')).toMatch(/is \/data\/kubelet/);
    expect(tierPathRefusal(policy, '/var')).toMatch(/^\/var contains \/var\/lib\/kubelet/);
    expect(tierPathRefusal(policy, '/etc/../etc/hoard')).toMatch(/\(that is \/etc\/hoard\) is inside \/etc/);
    expect(tierPathRefusal(policy, '/')).toMatch(/contains/);
    expect(tierPathRefusal(policy, 'relative')).toMatch(/must be an absolute path/);
    expect(tierPathRefusal(policy, '/mnt/nvme/hoard')).toBeUndefined();
    expect(tierPathRefusal(hostPathPolicy([]), '/mnt/nvme')).toBeUndefined();
  });

  it('normalises without resolving past the root', () => {
    expect(normaliseHostPath('/../..//srv/./a/', 'f')).toBe('/srv/a');
    expect(normaliseHostPath('/', 'f')).toBe('/');
  });
});

describe('--host-path-allow', () => {
  it('parses a comma-separated list, "" as none; every error names the flag, the entry and the fix', () => {
    expect(DEFAULT_HOST_PATH_ALLOW).toEqual(['/srv']);
    expect(parseHostPathAllowList('/srv, /mnt/data/,/srv', '--host-path-allow')).toEqual(['/srv', '/mnt/data']);
    expect(parseHostPathAllowList('', '--host-path-allow')).toEqual([]);
    expect(() => parseHostPathAllowList('srv', '--host-path-allow')).toThrow(/^--host-path-allow: entry "srv": "srv" must be an absolute path/);
    expect(() => parseHostPathAllowList('/srv/../etc', '--host-path-allow')).toThrow(/^--host-path-allow: "\/srv\/\.\.\/etc" is \/etc \(.*\), which no Dataset may read; name a folder that holds only data/);
    expect(() => parseHostPathAllowList('/srv/./x', '--host-path-allow')).toThrow(/is not a plain path .* write it as \/srv\/x/);
    expect(() => parseHostPathAllowList('/var/lib/kubelet/pods', '--host-path-allow')).toThrow(/inside \/var\/lib\/kubelet/);
    expect(() => parseHostPathAllowList('/k/x', '--host-path-allow', ['/k'])).toThrow(/inside \/k \(the kubelet's directory/);
    expect(() => parseHostPathAllowList(Array.from({ length: 65 }, (_, i) => `/srv/${i}`).join(','), '--host-path-allow')).toThrow(/at most 64 folders/);
    expect(() => parseHostPathAllowList(`/${'x'.repeat(300)}`, '--host-path-allow')).toThrow(/NAME_MAX/);
  });

  it('hoard operator --help shows it; a bad value (flag or HOARD_HOST_PATH_ALLOW) exits 1 naming the flag', async () => {
    const fail = (args: string[], env?: NodeJS.ProcessEnv) =>
      run('node', [hoardBin(), 'operator', '--kubeconfig', '/nonexistent', ...args], env ? { env: { ...process.env, ...env } } : {}).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
    // Started together: each is a node process start, slow on a loaded machine.
    const [help, bad, env, kubelet] = await Promise.all([
      run('node', [hoardBin(), 'operator', '--help']),
      fail(['--host-path-allow', '/srv,/etc']),
      fail([], { HOARD_HOST_PATH_ALLOW: 'data' }),
      // An allowed folder inside the kubelet's own directory (--kubelet-dir, the chart's csi.kubeletDir) is refused too.
      fail(['--kubelet-dir', '/srv/kubelet', '--host-path-allow', '/srv/kubelet/pods']),
    ]);
    expect(help.stdout).toMatch(/--host-path-allow <prefix,\.\.\.>\s+node folders Datasets' file:\/\/ mounts may name/);
    expect(help.stdout).toMatch(/\(default: \/srv, env: HOARD_HOST_PATH_ALLOW\)/);
    expect(bad).toMatchObject({ code: 1 });
    expect(bad.stderr).toMatch(/--host-path-allow: "\/etc" is \/etc/);
    expect(env.stderr).toMatch(/--host-path-allow: entry "data"/);
    expect(kubelet.stderr).toMatch(/--host-path-allow: "\/srv\/kubelet\/pods" is inside \/srv\/kubelet \(the kubelet's directory/);
  }, 120_000);
});
