import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { createLogger } from '../lib/log.js';
import { HoardVolumeResolver, type VolumeLookup } from '../operator/webhook/hoard-volumes.js';
import { startWebhook, type RunningWebhook } from '../operator/webhook/index.js';
import { MountPropagationMutator } from '../operator/webhook/mount-propagation.js';
import { MAX_BODY_BYTES } from '../operator/webhook/server.js';
import { jsonPatch } from './support/apiserver/patch.js';
import { getTestCluster, type TestCluster } from './support/kube.js';
import { ensureNamespace, GVR, installCrds, waitUntil } from './operator/harness.js';
import { decodePatch, httpsRequest, podReview } from './webhook/client.js';
import { boundClaim, CONFIG, installWebhookConfiguration, OPERATOR_NS, pendingClaim, SECRET, SERVICE, storageClass } from './webhook/cluster.js';

const NS = 'wh-apps';
const HOST = `${SERVICE}.${OPERATOR_NS}.svc`;
const log = createLogger('webhook-test', 'warn');

let cluster: TestCluster;
let webhook: RunningWebhook;
let ca = '';

const review = async (pod: Record<string, unknown>, over: Record<string, unknown> = {}) => {
  const res = await httpsRequest({ host: HOST, port: webhook.server.port, ca, body: JSON.stringify(podReview(NS, pod, over)) });
  expect(res.status).toBe(200);
  return res.body;
};

const container = (name: string, mounts: Record<string, unknown>[]) => ({ name, image: 'busybox', volumeMounts: mounts });
const claimVolume = (name: string, claimName: string) => ({ name, persistentVolumeClaim: { claimName, readOnly: true } });

beforeAll(async () => {
  cluster = await getTestCluster();
  const kc = cluster.kubeConfig;
  await installCrds(kc);
  await ensureNamespace(kc, NS);
  await installWebhookConfiguration(kc);
  await boundClaim(kc, NS, 'imagenet', 'csi.hoard.dev');
  await boundClaim(kc, NS, 'scratch', 'ebs.csi.aws.com');
  await pendingClaim(kc, NS, 'unbound-static', 'hoard');
  await storageClass(kc, 'hoard-views', 'csi.hoard.dev');
  await storageClass(kc, 'standard', 'ebs.csi.aws.com');
  await pendingClaim(kc, NS, 'unbound-view', 'hoard-views');
  await pendingClaim(kc, NS, 'unbound-other', 'standard');
  // A Dataset whose PVC the operator has not created yet.
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    ...GVR('datasets', NS),
    body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'Dataset', metadata: { name: 'coming', namespace: NS }, spec: { mounts: [{ name: 'd', uri: 's3://bucket/p' }] } },
  });
  webhook = startWebhook({
    kubeConfig: kc, port: 0, host: '127.0.0.1', namespace: OPERATOR_NS, serviceName: SERVICE, secretName: SECRET, configName: CONFIG,
    clusterDomain: 'cluster.local', isLeader: () => true, log,
  });
  const secret = await waitUntil(async () => (await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: SECRET, namespace: OPERATOR_NS })).data?.['ca.crt'], 20_000, 'webhook Secret');
  ca = Buffer.from(secret, 'base64').toString('utf8');
  await waitUntil(async () => webhook.server.listening, 20_000, 'webhook serving');
}, 60_000);

afterAll(async () => {
  await webhook?.stop();
  await cluster?.stop();
});

describe('mutating webhook over HTTPS', () => {
  it('adds HostToContainer to exactly the Hoard mounts of containers and initContainers, keeping a propagation the user set and other volumes untouched', async () => {
    const pod = {
      spec: {
        initContainers: [container('prefetch', [{ name: 'data', mountPath: '/data' }])],
        containers: [
          container('train', [
            { name: 'cache', mountPath: '/cache' },
            { name: 'data', mountPath: '/data', readOnly: true },
            { name: 'labels', mountPath: '/labels', subPath: 'v2' },
          ]),
          container('sidecar', [{ name: 'data', mountPath: '/data', mountPropagation: 'None' }, { name: 'scratch', mountPath: '/scratch' }]),
          container('plain', []),
        ],
        volumes: [
          claimVolume('data', 'imagenet'),
          { name: 'cache', emptyDir: {} },
          claimVolume('labels', 'imagenet'),
          claimVolume('scratch', 'scratch'),
        ],
      },
    };
    const body = await review(pod);
    expect(body.apiVersion).toBe('admission.k8s.io/v1');
    expect(body.kind).toBe('AdmissionReview');
    expect(body.response).toMatchObject({ allowed: true, patchType: 'JSONPatch' });
    expect(decodePatch(body)).toEqual([
      { op: 'add', path: '/spec/containers/0/volumeMounts/1/mountPropagation', value: 'HostToContainer' },
      { op: 'add', path: '/spec/containers/0/volumeMounts/2/mountPropagation', value: 'HostToContainer' },
      { op: 'add', path: '/spec/initContainers/0/volumeMounts/0/mountPropagation', value: 'HostToContainer' },
    ]);
    // Applied as the API server applies it: only those three fields change.
    const patched = jsonPatch(structuredClone(pod), decodePatch(body)) as any;
    const expected = structuredClone(pod) as any;
    expected.spec.containers[0].volumeMounts[1].mountPropagation = 'HostToContainer';
    expected.spec.containers[0].volumeMounts[2].mountPropagation = 'HostToContainer';
    expected.spec.initContainers[0].volumeMounts[0].mountPropagation = 'HostToContainer';
    expect(patched).toEqual(expected);
  });

  it('echoes the request uid, and answers a dry run exactly like a real request', async () => {
    const pod = { spec: { containers: [container('c', [{ name: 'data', mountPath: '/data' }])], volumes: [claimVolume('data', 'imagenet')] } };
    const req = podReview(NS, pod);
    const real = await httpsRequest({ host: HOST, port: webhook.server.port, ca, body: JSON.stringify(req) });
    expect(real.body.response.uid).toBe(req.request.uid);
    const dry = await httpsRequest({ host: HOST, port: webhook.server.port, ca, body: JSON.stringify({ ...req, request: { ...req.request, uid: 'dry-1', dryRun: true } }) });
    expect(dry.body.response.uid).toBe('dry-1');
    expect(decodePatch(dry.body)).toEqual(decodePatch(real.body));
    expect(decodePatch(dry.body)).toHaveLength(1);
  });

  it('leaves pods without Hoard volumes alone: no patch, no patchType', async () => {
    const body = await review({
      spec: {
        containers: [container('c', [{ name: 'scratch', mountPath: '/s' }, { name: 'cfg', mountPath: '/etc/cfg' }, { name: 'other', mountPath: '/o' }])],
        volumes: [claimVolume('scratch', 'scratch'), { name: 'cfg', configMap: { name: 'x' } }, claimVolume('other', 'unbound-other')],
      },
    });
    expect(body.response).toEqual({ uid: expect.any(String), allowed: true });
  });

  it('resolves PVCs not yet bound (Hoard storage class, or a Dataset about to create its PVC), inline CSI volumes and generic ephemeral volumes', async () => {
    const cases: [Record<string, unknown>, boolean][] = [
      [claimVolume('v', 'unbound-static'), true],
      [claimVolume('v', 'unbound-view'), true],
      [claimVolume('v', 'unbound-other'), false],
      [claimVolume('v', 'coming'), true],
      [claimVolume('v', 'no-such-claim'), false],
      [{ name: 'v', csi: { driver: 'csi.hoard.dev', volumeAttributes: { dataset: 'imagenet' } } }, true],
      [{ name: 'v', csi: { driver: 'secrets-store.csi.k8s.io' } }, false],
      [{ name: 'v', ephemeral: { volumeClaimTemplate: { spec: { storageClassName: 'hoard-views', accessModes: ['ReadOnlyMany'], resources: { requests: { storage: '1Gi' } } } } } }, true],
      [{ name: 'v', ephemeral: { volumeClaimTemplate: { spec: { storageClassName: 'standard', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } } }, false],
      [claimVolume('v', '../../etc'), false],
      [{ name: 'v', persistentVolumeClaim: { claimName: 7 } }, false],
    ];
    for (const [volume, hoard] of cases) {
      const body = await review({ spec: { containers: [container('c', [{ name: 'v', mountPath: '/v' }])], volumes: [volume] } });
      expect({ volume, patch: decodePatch(body) }).toEqual({ volume, patch: hoard ? [{ op: 'add', path: '/spec/containers/0/volumeMounts/0/mountPropagation', value: 'HostToContainer' }] : [] });
    }
  });

  it('allows other kinds and operations untouched', async () => {
    const pod = { spec: { containers: [container('c', [{ name: 'data', mountPath: '/data' }])], volumes: [claimVolume('data', 'imagenet')] } };
    for (const over of [{ operation: 'UPDATE' }, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }, { subResource: 'ephemeralcontainers', operation: 'UPDATE' }]) {
      const body = await review(pod, over);
      expect(body.response).toEqual({ uid: expect.any(String), allowed: true });
    }
  });

  it('answers bad requests with an error naming the problem, and keeps serving', async () => {
    const post = (body: string | Buffer, contentType?: string, path?: string, method?: string) => httpsRequest({ host: HOST, port: webhook.server.port, ca, body, contentType, path, method });
    expect(await post('{not json')).toMatchObject({ status: 400, body: { message: expect.stringContaining('body: not JSON') } });
    expect(await post(JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: {} }))).toMatchObject({ status: 400, body: { message: expect.stringContaining('apiVersion') } });
    expect(await post(JSON.stringify({ ...podReview(NS, {}), request: { ...podReview(NS, {}).request, uid: 42 } }))).toMatchObject({ status: 400, body: { message: expect.stringContaining('request.uid') } });
    expect(await post(JSON.stringify(podReview(NS, { spec: 'x' })))).toMatchObject({ status: 200, body: { response: { allowed: true } } });
    expect(await post(JSON.stringify(podReview(NS, { spec: { containers: 'x', initContainers: [null, 1, { volumeMounts: [null, { name: 5 }] }], volumes: {} } })))).toMatchObject({ status: 200 });
    expect((await post('{}', 'text/plain')).status).toBe(415);
    expect((await post('{}', undefined, '/other')).status).toBe(404);
    expect((await httpsRequest({ host: HOST, port: webhook.server.port, ca, method: 'GET' })).status).toBe(405);
    expect((await post(Buffer.alloc(MAX_BODY_BYTES + 1, 0x20))).status).toBe(413);
    expect((await httpsRequest({ host: HOST, port: webhook.server.port, ca, method: 'GET', path: '/readyz' })).status).toBe(200);
  });
});

describe('mount-propagation mutator when the API server cannot answer', () => {
  it('adds nothing for a volume it cannot check, and says so in a warning; other volumes are still handled', async () => {
    const lookup: VolumeLookup = {
      pvc: async (_ns, name) => {
        if (name === 'broken') throw new Error('connect ECONNREFUSED');
        if (name === 'slow') return new Promise(() => {});
        return { volumeName: 'pv-ok' };
      },
      pv: async () => ({ csiDriver: 'csi.hoard.dev' }),
      storageClass: async () => undefined,
      datasetExists: async () => false,
    };
    const m = new MountPropagationMutator(new HoardVolumeResolver(lookup, { timeoutMs: 200 }));
    const out = await m.mutate(
      { spec: { containers: [container('c', [{ name: 'a', mountPath: '/a' }, { name: 'b', mountPath: '/b' }, { name: 'c', mountPath: '/c' }])], volumes: [claimVolume('a', 'broken'), claimVolume('b', 'ok'), claimVolume('c', 'slow')] } },
      { namespace: 'x', dryRun: false, log },
    );
    expect(out.patch).toEqual([{ op: 'add', path: '/spec/containers/0/volumeMounts/1/mountPropagation', value: 'HostToContainer' }]);
    expect(out.warnings).toHaveLength(2);
    expect(out.warnings.join('\n')).toMatch(/volume "a".*ECONNREFUSED.*mountPropagation not added/);
    expect(out.warnings.join('\n')).toMatch(/volume "c".*within 200 ms/);
  });
});
