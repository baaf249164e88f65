import { promises as dnsPromises, type SrvRecord } from 'node:dns';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseMember, SrvMembership, StaticMembership } from '../worker/client/membership.js';

const srv = (name: string, port = 9400): SrvRecord => ({ name, port, priority: 0, weight: 0 });

describe('static membership', () => {
  it('parses id=host:port and bare host:port (id = address)', () => {
    expect(parseMember('w0=127.0.0.1:9400')).toEqual({ id: 'w0', address: '127.0.0.1:9400' });
    expect(parseMember('10.0.0.5:9400')).toEqual({ id: '10.0.0.5:9400', address: '10.0.0.5:9400' });
    expect(parseMember('w1=[::1]:9400')).toEqual({ id: 'w1', address: '[::1]:9400' });
    const m = new StaticMembership(['b=127.0.0.1:2', 'a=127.0.0.1:1']);
    expect(m.members().map((x) => x.id)).toEqual(['a', 'b']);
  });

  it.each([
    [['w0=127.0.0.1'], /workers\[0\]: "w0=127.0.0.1" is not host:port/],
    [['=127.0.0.1:1'], /empty id/],
    [['w0=h:99999'], /is not host:port/],
    [['a=h:1', 'a=h:2'], /appears twice/],
    [[], /list is empty/],
  ])('rejects %j with a message naming the problem', (specs, msg) => {
    expect(() => new StaticMembership(specs)).toThrow(msg);
  });
});

describe('SRV membership', () => {
  const opened: SrvMembership[] = [];
  afterEach(() => {
    for (const m of opened.splice(0)) m.close();
    vi.restoreAllMocks();
  });

  it('takes ids from the first label of each target and follows changes', async () => {
    let answer = [srv('ds-worker-1.ds-worker.ml.svc.cluster.local.'), srv('ds-worker-0.ds-worker.ml.svc.cluster.local')];
    const resolveSrv = vi.fn(async () => answer);
    const m = new SrvMembership({ name: '_grpc._tcp.ds-worker.ml.svc.cluster.local', refreshMs: 20, resolveSrv });
    opened.push(m);
    await m.ready;
    expect(resolveSrv).toHaveBeenCalledWith('_grpc._tcp.ds-worker.ml.svc.cluster.local');
    expect(m.members()).toEqual([
      { id: 'ds-worker-0', address: 'ds-worker-0.ds-worker.ml.svc.cluster.local:9400' },
      { id: 'ds-worker-1', address: 'ds-worker-1.ds-worker.ml.svc.cluster.local:9400' },
    ]);
    const changed = new Promise<string[]>((resolve) => m.onChange((list) => resolve(list.map((x) => x.id))));
    answer = [...answer, srv('ds-worker-2.ds-worker.ml.svc.cluster.local')];
    expect(await changed).toEqual(['ds-worker-0', 'ds-worker-1', 'ds-worker-2']);
  });

  it('keeps the last good list when a refresh fails, and recovers after', async () => {
    let fail = false;
    let calls = 0;
    const resolveSrv = vi.fn(async () => {
      calls++;
      if (fail) throw Object.assign(new Error('queryS ETIMEOUT'), { code: 'ETIMEOUT' });
      return [srv(calls > 1 ? 'w-b.svc' : 'w-a.svc')];
    });
    const m = new SrvMembership({ name: '_grpc._tcp.w.svc', refreshMs: 10, resolveSrv });
    opened.push(m);
    await m.ready;
    expect(m.members().map((x) => x.id)).toEqual(['w-a']);
    fail = true;
    const failedCalls = calls;
    await vi.waitFor(() => expect(calls).toBeGreaterThan(failedCalls + 2), { timeout: 5000 });
    expect(m.members().map((x) => x.id)).toEqual(['w-a']);
    const changed = new Promise<string[]>((resolve) => m.onChange((list) => resolve(list.map((x) => x.id))));
    fail = false;
    expect(await changed).toEqual(['w-b']);
  });

  it('starts empty (not failing) when the first lookup fails', async () => {
    const m = new SrvMembership({ name: '_grpc._tcp.none.svc', refreshMs: 1000, resolveSrv: async () => Promise.reject(new Error('ENOTFOUND')) });
    opened.push(m);
    await m.ready;
    expect(m.members()).toEqual([]);
  });

  it('uses node:dns resolveSrv by default', async () => {
    const spy = vi.spyOn(dnsPromises, 'resolveSrv').mockResolvedValue([srv('pod-7.svc.ns.svc.cluster.local', 9500)]);
    const m = new SrvMembership({ name: '_grpc._tcp.svc.ns.svc.cluster.local' });
    opened.push(m);
    await m.ready;
    expect(spy).toHaveBeenCalledWith('_grpc._tcp.svc.ns.svc.cluster.local');
    expect(m.members()).toEqual([{ id: 'pod-7', address: 'pod-7.svc.ns.svc.cluster.local:9500' }]);
  });

  it('rejects a bad refresh interval naming the field', () => {
    expect(() => new SrvMembership({ name: 'x', refreshMs: 0 })).toThrow(/workers.refreshMs/);
  });
});

describe('worker pool follows membership', () => {
  it('adds, re-addresses and removes workers on the ring and their channels', async () => {
    const { WorkerPool } = await import('../worker/client/pool.js');
    let answer = [srv('a.svc', 9400), srv('b.svc', 9400)];
    const m = new SrvMembership({ name: '_grpc._tcp.x', refreshMs: 60_000, resolveSrv: async () => answer });
    await m.ready;
    const pool = new WorkerPool(m, 1000);
    try {
      expect(pool.ring.ids().sort()).toEqual(['a', 'b']);
      const oldB = pool.get('b');
      answer = [srv('b.svc', 9401), srv('c.svc', 9400)];
      expect(await m.refresh()).toBe(true);
      expect(pool.ring.ids().sort()).toEqual(['b', 'c']);
      expect(pool.get('a')).toBeUndefined();
      expect(pool.get('b')).not.toBe(oldB);
      expect(pool.get('b')!.address).toBe('b.svc:9401');
      pool.markDown('c', 'test');
      expect(pool.isUp('c')).toBe(false);
      const { up, down } = pool.candidates('/some/key', 1);
      expect([...up, ...down].map((c) => c.id).sort()).toEqual(['b', 'c']);
      expect(down.map((c) => c.id)).toEqual(['c']);
    } finally {
      pool.close();
    }
  });
});
