import { afterAll, beforeAll, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { pino } from 'pino';
import { startApiServer, type ApiServer } from './support/apiserver/index.js';
import { startOperator, type RunningOperator } from '../operator/manager.js';
import { ensureNamespace, GVR, installCrds, waitUntil } from './operator/harness.js';

// Always the emulator: a real cluster cannot be asked to stop serving an API for one test.
const NS = 'old-cluster';
let api: ApiServer;
let operator: RunningOperator;
const logLines: string[] = [];

beforeAll(async () => {
  api = await startApiServer({ kubelet: true, unservedApis: ['batch/v1/cronjobs'] });
  await installCrds(api.kubeConfig);
  await ensureNamespace(api.kubeConfig, NS);
  const sink = new Writable({ write: (chunk: Buffer, _enc, cb) => (logLines.push(chunk.toString()), cb()) });
  operator = startOperator({ kubeConfig: api.kubeConfig, ctx: { image: 'hoard:test', clusterDomain: 'cluster.local' }, leaderElection: false, log: pino({ level: 'warn' }, sink) });
});

afterAll(async () => {
  await operator?.stop();
  await api?.stop();
});

it('a Cron DataLoad on a cluster without batch/v1 CronJob gets an APINotServed condition and one Event, no retry storm', async () => {
  const custom = api.kubeConfig.makeApiClient(CustomObjectsApi);
  const core = api.kubeConfig.makeApiClient(CoreV1Api);
  await custom.createNamespacedCustomObject({
    ...GVR('dataloads', NS),
    body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'DataLoad', metadata: { name: 'nightly', namespace: NS }, spec: { dataset: { name: 'cache' }, policy: 'Cron', schedule: '0 3 * * *' } },
  });
  const dl = await waitUntil(async () => {
    const d = (await custom.getNamespacedCustomObject({ ...GVR('dataloads', NS), name: 'nightly' })) as any;
    return d.status?.conditions?.some((c: any) => c.reason === 'APINotServed') ? d : undefined;
  }, 15_000, 'APINotServed condition');
  const ready = dl.status.conditions.find((c: any) => c.type === 'Ready');
  expect(ready).toEqual(expect.objectContaining({ status: 'False', reason: 'APINotServed', observedGeneration: dl.metadata.generation }));
  expect(ready.message).toMatch(/batch\/v1 CronJob/);
  expect(dl.status.phase).toBe('Failed');
  // A few reconcile periods later: still one Event, and no failed reconciles in the log.
  await new Promise((r) => setTimeout(r, 2_500));
  const events = (await core.listNamespacedEvent({ namespace: NS })).items.filter((e) => e.involvedObject.name === 'nightly');
  expect(events).toHaveLength(1);
  expect(events[0]!.type).toBe('Warning');
  expect(events[0]!.message).toMatch(/batch\/v1 CronJob/);
  expect(logLines.filter((l) => l.includes('reconcile failed'))).toEqual([]);
});
