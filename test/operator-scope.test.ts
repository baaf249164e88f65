import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoordinationV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { leaseFor, parseNamespaces } from '../bin/commands/operator.js';
import { startOperator, type RunningOperator } from '../operator/manager.js';
import { createLogger } from '../lib/log.js';
import { startApiServer, type ApiServer } from './support/apiserver/index.js';
import { GVR, ensureNamespace, installCrds, waitUntil } from './operator/harness.js';

describe('--namespaces', () => {
  it('parses a list of namespaces and names the flag in errors', () => {
    expect(parseNamespaces('team-a, team-b')).toEqual(['team-a', 'team-b']);
    expect(() => parseNamespaces('Team_A')).toThrow(/--namespaces: "Team_A" is not a namespace name/);
    expect(() => parseNamespaces('a,a')).toThrow(/--namespaces: .* twice/);
    expect(() => parseNamespaces(' , ')).toThrow(/--namespaces: give at least one/);
  });
  it('gives each scope its own Lease, the same one for the same scope in any order', () => {
    expect(leaseFor(undefined, 'hoard', undefined)).toEqual({ namespace: 'hoard', name: 'hoard-operator' });
    const ab = leaseFor(['b', 'a'], 'hoard');
    expect(ab.name).toMatch(/^hoard-operator-[0-9a-f]{10}$/);
    expect(leaseFor(['a', 'b'], 'hoard')).toEqual(ab);
    expect(leaseFor(['a'], 'hoard').name).not.toBe(ab.name);
    expect(leaseFor(['a'], 'hoard', 'mine').name).toBe('mine');
  });
});

describe('operators scoped to namespaces', () => {
  let api: ApiServer;
  const operators: RunningOperator[] = [];
  beforeAll(async () => {
    api = await startApiServer({ kubelet: true });
    await installCrds(api.kubeConfig);
    for (const ns of ['scope-a', 'scope-b', 'scope-c']) await ensureNamespace(api.kubeConfig, ns);
    for (const ns of ['scope-a', 'scope-b']) {
      operators.push(startOperator({
        kubeConfig: api.kubeConfig,
        ctx: { image: 'hoard:test', clusterDomain: 'cluster.local' },
        namespaces: [ns],
        leaderElection: { ...leaseFor([ns], ns), identity: `op-${ns}`, leaseDurationMs: 3_000 },
        log: createLogger('operator', 'warn'),
      }));
    }
  });
  afterAll(async () => {
    for (const o of operators) await o.stop();
    await api?.stop();
  });

  it('each reconciles its own namespace, leads on its own Lease, and leaves the others alone', async () => {
    const custom = api.kubeConfig.makeApiClient(CustomObjectsApi);
    for (const ns of ['scope-a', 'scope-b', 'scope-c']) {
      await custom.createNamespacedCustomObject({ ...GVR('datasets', ns), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'Dataset', metadata: { name: 'd', namespace: ns }, spec: { mounts: [{ name: 'web', uri: 'https://example.com/data' }] } } });
    }
    for (const ns of ['scope-a', 'scope-b']) {
      await waitUntil(async () => {
        const d = (await custom.getNamespacedCustomObject({ ...GVR('datasets', ns), name: 'd' })) as any;
        return d.status?.conditions?.some((c: any) => c.reason === 'NoRuntime');
      }, 20_000, `Dataset in ${ns} reconciled`);
    }
    await waitUntil(async () => operators.every((o) => o.isLeader()), 10_000, 'both operators lead their own scope');
    const leases = api.kubeConfig.makeApiClient(CoordinationV1Api);
    for (const ns of ['scope-a', 'scope-b']) {
      const lease = await leases.readNamespacedLease({ namespace: ns, name: leaseFor([ns], ns).name });
      expect(lease.spec!.holderIdentity).toBe(`op-${ns}`);
    }
    const outside = (await custom.getNamespacedCustomObject({ ...GVR('datasets', 'scope-c'), name: 'd' })) as any;
    expect(outside.status).toBeUndefined();
    expect(outside.metadata.finalizers ?? []).toEqual([]);
  }, 40_000);
});
