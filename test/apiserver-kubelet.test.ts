import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppsV1Api, BatchV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type V1StatefulSet } from '@kubernetes/client-node';
import { runContainerLocally, startApiServer, type ApiServer, type JobContext } from './support/apiserver/index.js';

/** The simulated kubelet/controller-manager (what getTestCluster() runs when HOARD_TEST_KUBECONFIG is unset). */

let cluster: ApiServer;
let core: CoreV1Api;
let apps: AppsV1Api;
let batch: BatchV1Api;
const jobRuns: JobContext[] = [];
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

beforeAll(async () => {
  cluster = await startApiServer({
    kubelet: {
      jobHook: async (ctx) => {
        jobRuns.push(ctx);
        // The Job's container really runs (as a local process); a non-zero exit fails the Job.
        await runContainerLocally(ctx.command, ctx.env, { binaries: { sh: ['/bin/sh'] }, timeoutMs: 10_000 });
      },
    },
  });
  core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
  batch = cluster.kubeConfig.makeApiClient(BatchV1Api);
  await core.createNamespace({ body: { metadata: { name: 'k' } } });
});

afterAll(async () => {
  await cluster?.stop();
});

async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`not within ${ms} ms: ${what}; last: ${JSON.stringify(last)?.slice(0, 1500)}`);
}

function sts(name: string, replicas: number): V1StatefulSet {
  return {
    metadata: { name },
    spec: {
      replicas,
      serviceName: `${name}-svc`,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name, 'app.kubernetes.io/component': 'worker' } }, spec: { containers: [{ name: 'worker', image: 'hoard:dev' }] } },
    },
  };
}

const podsOf = async (app: string) => (await core.listNamespacedPod({ namespace: 'k', labelSelector: `app=${app}` })).items;

describe('StatefulSet controller', () => {
  it('creates ordinal pods from the template, marks them Ready and reports status', async () => {
    const created = await apps.createNamespacedStatefulSet({ namespace: 'k', body: sts('web', 3) });
    const s = await eventually(() => apps.readNamespacedStatefulSet({ name: 'web', namespace: 'k' }), (x) => x.status?.readyReplicas === 3, 'three ready replicas');
    expect(s.status).toMatchObject({ replicas: 3, readyReplicas: 3, currentReplicas: 3, updatedReplicas: 3, availableReplicas: 3, observedGeneration: 1 });
    const pods = await podsOf('web');
    expect(pods.map((p) => p.metadata?.name).sort()).toEqual(['web-0', 'web-1', 'web-2']);
    const p0 = pods.find((p) => p.metadata?.name === 'web-0')!;
    expect(p0.metadata?.labels).toMatchObject({ app: 'web', 'app.kubernetes.io/component': 'worker', 'statefulset.kubernetes.io/pod-name': 'web-0' });
    expect(p0.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'StatefulSet', name: 'web', uid: created.metadata?.uid, controller: true });
    expect(p0.spec).toMatchObject({ hostname: 'web-0', subdomain: 'web-svc' });
    expect(p0.status?.phase).toBe('Running');
    expect(p0.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(p0.status?.podIP).toMatch(/^10\.244\.0\.\d+$/);
  });

  it('follows scale up and scale down (through /scale too), updating observedGeneration', async () => {
    await apps.patchNamespacedStatefulSet({ name: 'web', namespace: 'k', body: { spec: { replicas: 5 } } }, merge);
    await eventually(() => apps.readNamespacedStatefulSet({ name: 'web', namespace: 'k' }), (x) => x.status?.readyReplicas === 5 && x.status?.observedGeneration === 2, 'scaled to 5');
    await apps.patchNamespacedStatefulSetScale({ name: 'web', namespace: 'k', body: { spec: { replicas: 1 } } }, merge);
    const s = await eventually(() => apps.readNamespacedStatefulSet({ name: 'web', namespace: 'k' }), (x) => x.status?.replicas === 1 && x.status?.observedGeneration === 3, 'scaled to 1');
    expect(s.status?.readyReplicas).toBe(1);
    expect((await podsOf('web')).map((p) => p.metadata?.name)).toEqual(['web-0']);
  });

  it('reflects a pod turning unready in readyReplicas', async () => {
    cluster.kubelet!.setPodReady('k', 'web-0', false);
    await eventually(() => apps.readNamespacedStatefulSet({ name: 'web', namespace: 'k' }), (x) => x.status?.readyReplicas === 0, 'not ready');
    cluster.kubelet!.setPodReady('k', 'web-0', true);
    await eventually(() => apps.readNamespacedStatefulSet({ name: 'web', namespace: 'k' }), (x) => x.status?.readyReplicas === 1, 'ready again');
  });

  it('replaces pods when the template changes and collects them when the StatefulSet goes', async () => {
    const before = (await podsOf('web'))[0].metadata?.uid;
    await apps.patchNamespacedStatefulSet({ name: 'web', namespace: 'k', body: { spec: { template: { metadata: { annotations: { rev: '2' } } } } } }, merge);
    await eventually(podsOf.bind(null, 'web'), (pods) => pods.length === 1 && pods[0].metadata?.uid !== before && pods[0].metadata?.annotations?.rev === '2', 'pod replaced');
    await apps.deleteNamespacedStatefulSet({ name: 'web', namespace: 'k' });
    await eventually(podsOf.bind(null, 'web'), (pods) => pods.length === 0, 'pods collected');
  });
});

describe('Job and CronJob controllers', () => {
  it('runs the job hook with the container command and resolved env, then completes the Job', async () => {
    await core.createNamespacedSecret({ namespace: 'k', body: { metadata: { name: 'creds' }, stringData: { token: 's3cr3t' } } });
    await batch.createNamespacedJob({
      namespace: 'k',
      body: {
        metadata: { name: 'load' },
        spec: {
          template: {
            metadata: { labels: { 'app.kubernetes.io/component': 'loader' } },
            spec: {
              restartPolicy: 'Never',
              containers: [
                {
                  name: 'load',
                  image: 'hoard:dev',
                  command: ['sh', '-c'],
                  args: ['test "$TOKEN" = s3cr3t && test "$MODE" = once'],
                  env: [
                    { name: 'MODE', value: 'once' },
                    { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'creds', key: 'token' } } },
                  ],
                },
              ],
            },
          },
        },
      },
    });
    const job = await eventually(() => batch.readNamespacedJob({ name: 'load', namespace: 'k' }), (j) => (j.status?.conditions ?? []).some((c) => c.type === 'Complete'), 'job complete');
    expect(job.status?.succeeded).toBe(1);
    expect(job.status?.conditions?.find((c) => c.type === 'Complete')?.status).toBe('True');
    const run = jobRuns.find((r) => r.job.metadata.name === 'load')!;
    expect(run.command).toEqual(['sh', '-c', 'test "$TOKEN" = s3cr3t && test "$MODE" = once']);
    expect(run.env).toEqual({ MODE: 'once', TOKEN: 's3cr3t' });
    const pods = (await core.listNamespacedPod({ namespace: 'k', labelSelector: 'batch.kubernetes.io/job-name=load' })).items;
    expect(pods.map((p) => p.status?.phase)).toEqual(['Succeeded']);
  });

  it('fails the Job when the hook fails', async () => {
    await batch.createNamespacedJob({
      namespace: 'k',
      body: { metadata: { name: 'bad' }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x', command: ['sh', '-c', 'exit 3'] }] } } } },
    });
    const job = await eventually(() => batch.readNamespacedJob({ name: 'bad', namespace: 'k' }), (j) => (j.status?.conditions ?? []).some((c) => c.type === 'Failed'), 'job failed');
    expect(job.status?.failed).toBe(1);
    expect(job.status?.conditions?.find((c) => c.type === 'Failed')?.reason).toBe('BackoffLimitExceeded');
  });

  it('creates a Job from a CronJob on triggerCronJob', async () => {
    const cj = await batch.createNamespacedCronJob({
      namespace: 'k',
      body: {
        metadata: { name: 'nightly' },
        spec: { schedule: '0 3 * * *', jobTemplate: { metadata: { labels: { kind: 'refresh' } }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x', command: ['true'] }] } } } } },
      },
    });
    const job = cluster.kubelet!.triggerCronJob('k', 'nightly');
    expect(job.metadata.ownerReferences[0]).toMatchObject({ kind: 'CronJob', uid: cj.metadata?.uid });
    expect(job.metadata.labels).toEqual({ kind: 'refresh' });
    const after = await eventually(() => batch.readNamespacedCronJob({ name: 'nightly', namespace: 'k' }), (c) => !!c.status?.lastSuccessfulTime, 'cronjob records success');
    expect(after.status?.lastScheduleTime).toBeInstanceOf(Date);
    expect(after.status?.active).toBeUndefined();
  });
});

describe('PV controller and storage protection', () => {
  it('binds a PVC to the PV it names, and protects the PVC while a pod uses it', async () => {
    await core.createNamespacedPersistentVolumeClaim({
      namespace: 'k',
      body: { metadata: { name: 'data' }, spec: { accessModes: ['ReadOnlyMany'], volumeName: 'hoard-k-data', storageClassName: '', resources: { requests: { storage: '1Gi' } } } },
    });
    expect((await core.readNamespacedPersistentVolumeClaim({ name: 'data', namespace: 'k' })).status?.phase).toBe('Pending');
    await core.createPersistentVolume({
      body: {
        metadata: { name: 'hoard-k-data' },
        spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadOnlyMany'], persistentVolumeReclaimPolicy: 'Retain', storageClassName: '', csi: { driver: 'csi.hoard.dev', volumeHandle: 'k/data' } },
      },
    });
    const pvc = await eventually(() => core.readNamespacedPersistentVolumeClaim({ name: 'data', namespace: 'k' }), (c) => c.status?.phase === 'Bound', 'pvc bound');
    expect(pvc.status?.capacity).toEqual({ storage: '1Gi' });
    expect(pvc.metadata?.finalizers).toEqual(['kubernetes.io/pvc-protection']);
    const pv = await core.readPersistentVolume({ name: 'hoard-k-data' });
    expect(pv.status?.phase).toBe('Bound');
    expect(pv.spec?.claimRef).toMatchObject({ namespace: 'k', name: 'data', uid: pvc.metadata?.uid });

    await core.createNamespacedPod({
      namespace: 'k',
      body: { metadata: { name: 'reader' }, spec: { containers: [{ name: 'c', image: 'x' }], volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'data' } }] } },
    });
    await eventually(() => core.readNamespacedPod({ name: 'reader', namespace: 'k' }), (p) => p.status?.phase === 'Running', 'reader running');
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'data', namespace: 'k' });
    await new Promise((r) => setTimeout(r, 100));
    expect((await core.readNamespacedPersistentVolumeClaim({ name: 'data', namespace: 'k' })).metadata?.deletionTimestamp).toBeInstanceOf(Date);
    await core.deleteNamespacedPod({ name: 'reader', namespace: 'k' });
    await eventually(async () => (await core.listNamespacedPersistentVolumeClaim({ namespace: 'k' })).items.length, (n) => n === 0, 'pvc removed once unused');
    await eventually(() => core.readPersistentVolume({ name: 'hoard-k-data' }), (v) => v.status?.phase === 'Released', 'pv released');
  });
});
