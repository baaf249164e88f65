import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoreV1Api } from '@kubernetes/client-node';
import { createUfs } from '../worker/ufs/factory.js';
import { drain } from './support/ufs-helpers.js';
import { getTestCluster, type TestCluster } from './support/kube.js';
import { startDataServer, type DataServer } from './support/data-server.js';
import { createDataServer, fileContent } from './support/test-data-http.mjs';
import { deleteTestNamespace, testNamespace } from './operator/harness.js';

/**
 * The operator suite's in-cluster data server (test/support/test-data-http.mjs) speaks what
 * Hoard's http:// under-storage needs: its manifest listing, HEAD sizes and ETags, byte ranges.
 */
const FILES = { '/a.bin': 300_000, '/sub/b.bin': 70_001, '/empty': 0 };

function raw(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, timeout: 5_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('test-data-http.mjs on its own', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createDataServer(FILES);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('serves the listing, sizes and byte ranges the http under-storage reads, byte-exact', async () => {
    const ufs = createUfs({ name: 'data', uri: `http://127.0.0.1:${port}/`, options: { manifest: '.manifest' } });
    try {
      expect((await ufs.list('/')).map((e) => [e.name, e.isDir, e.size])).toEqual([['a.bin', false, 300_000], ['empty', false, 0], ['sub', true, 0]]);
      expect((await ufs.list('/sub')).map((e) => [e.name, e.size])).toEqual([['b.bin', 70_001]]);
      const a = fileContent('/a.bin', 300_000);
      const entry = await ufs.stat('/a.bin');
      expect(await drain(await ufs.read('/a.bin', 0, 300_000, undefined, entry.version))).toEqual(a);
      expect(await drain(await ufs.read('/a.bin', 123_457, 1_000))).toEqual(a.subarray(123_457, 124_457));
      expect(await drain(await ufs.read('/a.bin', 299_990, 100))).toEqual(a.subarray(299_990));
      expect(await drain(await ufs.read('/sub/b.bin', 0, 80_000))).toEqual(fileContent('/sub/b.bin', 70_001));
      expect((await drain(await ufs.read('/empty', 0, 10))).length).toBe(0);
      await expect(ufs.stat('/nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    } finally {
      await ufs.close();
    }
    // Different files, different bytes: a server mixing them up would be caught.
    expect(fileContent('/a.bin', 64).equals(fileContent('/b.bin', 64))).toBe(false);
  });

  it('answers hostile or odd requests with an error status, never a crash', async () => {
    expect((await raw(port, 'GET', '/a.bin', { range: 'bytes=300000-' })).status).toBe(416);
    expect((await raw(port, 'GET', '/a.bin', { range: 'bytes=-10' })).body).toEqual(fileContent('/a.bin', 300_000).subarray(-10));
    expect((await raw(port, 'GET', '/a.bin', { range: 'bytes=5-1' })).status).toBe(200);
    expect((await raw(port, 'GET', '/a.bin', { range: 'bytes=0-1,5-6' })).status).toBe(200);
    expect((await raw(port, 'GET', '/%zz')).status).toBe(400);
    expect((await raw(port, 'GET', '/sub/../a.bin')).status).toBe(200); // the URL parser resolves ".." within the root
    expect((await raw(port, 'GET', '/..%2f..%2fetc%2fpasswd')).status).toBe(404);
    expect((await raw(port, 'PUT', '/a.bin')).status).toBe(405);
    const head = await raw(port, 'HEAD', '/sub/b.bin');
    expect([head.status, head.headers['content-length'], head.body.length]).toEqual([200, '70001', 0]);
    expect((await raw(port, 'GET', '/a.bin')).status).toBe(200);
  });

  it('refuses a files map it cannot serve, naming the entry', () => {
    expect(() => createDataServer({ 'rel.bin': 1 })).toThrow(/"rel.bin" must be an absolute path/);
    expect(() => createDataServer({ '/a/../b': 1 })).toThrow(/"\/a\/..\/b"/);
    expect(() => createDataServer({ '/a': -1 })).toThrow(/size must be a non-negative integer/);
    expect(() => createDataServer({ '/a': 2 ** 30 })).toThrow(/at most/);
  });
});

describe('startDataServer', () => {
  let cluster: TestCluster;
  let ns: string;
  let data: DataServer;
  beforeAll(async () => {
    cluster = await getTestCluster();
    ns = await testNamespace(cluster.kubeConfig, 'data');
    data = await startDataServer(cluster, ns, FILES);
  }, 120_000);
  afterAll(async () => {
    if (cluster && ns) await deleteTestNamespace(cluster.kubeConfig, ns);
    await cluster?.stop();
  });

  it('runs the server as a Pod behind a Service of the namespace, reachable at the URI it returns', async () => {
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    const pod = await core.readNamespacedPod({ namespace: ns, name: 'test-data' });
    expect(pod.spec!.volumes![0]!.configMap!.name).toBe('test-data');
    const svc = await core.readNamespacedService({ namespace: ns, name: 'test-data' });
    expect(svc.spec!.selector).toEqual(pod.metadata!.labels);
    expect(data.mount('d')).toEqual({ name: 'd', uri: data.uri, options: { manifest: '.manifest' } });
    expect(data.totalBytes).toBe(370_001);
    if (!cluster.emulated) return; // the in-cluster name does not resolve on the test machine
    // On the emulator the pod is a real process with its own IP: read it the way a worker would.
    const ufs = createUfs(data.mount('data'));
    try {
      expect((await ufs.list('/')).map((e) => e.name)).toEqual(['a.bin', 'empty', 'sub']);
      expect(await drain(await ufs.read('/sub/b.bin', 1, 70_000))).toEqual(data.content('/sub/b.bin').subarray(1));
    } finally {
      await ufs.close();
    }
  });
});
