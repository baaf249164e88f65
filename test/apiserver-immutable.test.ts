import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, PatchStrategy, setHeaderOptions, StorageV1Api, type V1PersistentVolume, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { startApiServer, type ApiServer } from './support/apiserver/index.js';
import { apiFailure } from './support/kube.js';

/** What kube-apiserver refuses to change after creation, refused here with its messages. */

let api: ApiServer;
let core: CoreV1Api;
const NS = 'immutable';
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

const pv = (name: string, claim?: string): V1PersistentVolume => ({
  metadata: { name },
  spec: {
    capacity: { storage: '100Pi' },
    accessModes: ['ReadOnlyMany'],
    persistentVolumeReclaimPolicy: 'Retain',
    storageClassName: 'hoard',
    ...(claim ? { claimRef: { namespace: NS, name: claim } } : {}),
    csi: { driver: 'csi.hoard.dev', volumeHandle: `${NS}/${name}`, volumeAttributes: { dataset: name, mounts: '[]' } },
  },
});
const pvc = (name: string, volumeName?: string): V1PersistentVolumeClaim => ({
  metadata: { name },
  spec: { accessModes: ['ReadOnlyMany'], storageClassName: 'hoard', resources: { requests: { storage: '1Gi' } }, ...(volumeName ? { volumeName } : {}) },
});

beforeAll(async () => {
  api = await startApiServer({ kubelet: true });
  core = api.kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
});
afterAll(async () => api?.stop());

describe('API-server emulator: PersistentVolume and PersistentVolumeClaim updates', () => {
  it('refuses a change to a PV\'s volume source (csi attributes, handle, driver) and volumeMode; allows the mutable fields', async () => {
    await core.createPersistentVolume({ body: pv('pv-a') });
    const edits: [string, (v: V1PersistentVolume) => void][] = [
      ['volumeAttributes', (v) => (v.spec!.csi!.volumeAttributes = { dataset: 'pv-a', mounts: '[{"name":"x"}]' })],
      ['volumeHandle', (v) => (v.spec!.csi!.volumeHandle = 'other')],
      ['driver', (v) => (v.spec!.csi!.driver = 'other.csi.example.com')],
      ['another source', (v) => (v.spec!.hostPath = { path: '/tmp' })],
    ];
    for (const [what, edit] of edits) {
      const current = await core.readPersistentVolume({ name: 'pv-a' });
      edit(current);
      const f = await apiFailure(() => core.replacePersistentVolume({ name: 'pv-a', body: current }));
      expect({ what, code: f.code, message: f.status.message.split('\n')[0] }).toEqual({
        what,
        code: 422,
        message: 'PersistentVolume "pv-a" is invalid: spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation',
      });
      expect(f.status.details.causes[0]).toMatchObject({ reason: 'FieldValueForbidden', field: 'spec.persistentvolumesource' });
    }
    const patched = await apiFailure(() => core.patchPersistentVolume({ name: 'pv-a', body: { spec: { csi: { volumeAttributes: { dataset: 'changed' } } } } }, merge));
    expect(patched.status.message).toMatch(/^PersistentVolume "pv-a" is invalid: spec\.persistentvolumesource: Forbidden/);
    const mode = await apiFailure(() => core.patchPersistentVolume({ name: 'pv-a', body: { spec: { volumeMode: 'Block' } } }, merge));
    expect(mode.status.message).toBe('PersistentVolume "pv-a" is invalid: volumeMode: Invalid value: "Block": field is immutable');
    // Capacity, access modes, reclaim policy, class, labels: all mutable.
    const ok = await core.patchPersistentVolume({ name: 'pv-a', body: { metadata: { labels: { a: 'b' } }, spec: { capacity: { storage: '1Ti' }, persistentVolumeReclaimPolicy: 'Delete', volumeMode: 'Filesystem' } } }, merge);
    expect(ok.spec!.capacity!.storage).toBe('1Ti');
  });

  it('refuses changes to a claim\'s spec except setting volumeName once and growing a bound claim\'s storage request', async () => {
    await core.createPersistentVolume({ body: pv('pv-b', 'claim-b') });
    await core.createNamespacedPersistentVolumeClaim({ namespace: NS, body: pvc('claim-b') });
    const bound = await api.objects.waitFor({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: NS, name: 'claim-b' }, (o) => o?.status?.phase === 'Bound');
    expect(bound!.spec.volumeName).toBe('pv-b');
    const refusals: [string, Record<string, unknown>][] = [
      ['accessModes', { accessModes: ['ReadWriteMany'] }],
      ['storageClassName', { storageClassName: 'other' }],
      ['volumeName', { volumeName: 'pv-other' }],
      ['limits', { resources: { limits: { storage: '5Gi' } } }],
    ];
    for (const [what, spec] of refusals) {
      const f = await apiFailure(() => core.patchNamespacedPersistentVolumeClaim({ name: 'claim-b', namespace: NS, body: { spec } }, merge));
      expect({ what, code: f.code, message: f.status.message.split('\n')[0] }).toEqual({
        what,
        code: 422,
        message: 'PersistentVolumeClaim "claim-b" is invalid: spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims',
      });
    }
    const grown = await core.patchNamespacedPersistentVolumeClaim({ name: 'claim-b', namespace: NS, body: { spec: { resources: { requests: { storage: '2Gi' } } } } }, merge);
    expect(grown.spec!.resources!.requests!.storage).toBe('2Gi');
    const shrunk = await apiFailure(() => core.patchNamespacedPersistentVolumeClaim({ name: 'claim-b', namespace: NS, body: { spec: { resources: { requests: { storage: '1Gi' } } } } }, merge));
    expect(shrunk.status.message).toBe('PersistentVolumeClaim "claim-b" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than previous value');
    // Labels and annotations stay writable.
    await core.patchNamespacedPersistentVolumeClaim({ name: 'claim-b', namespace: NS, body: { metadata: { labels: { team: 'ml' } } } }, merge);
  });

  it('an unbound claim may get its volumeName once, but not a new storage request', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: NS, body: { metadata: { name: 'waiting' }, spec: { accessModes: ['ReadOnlyMany'], storageClassName: 'nothing-provisions-this', resources: { requests: { storage: '1Gi' } } } } });
    const resized = await apiFailure(() => core.patchNamespacedPersistentVolumeClaim({ name: 'waiting', namespace: NS, body: { spec: { resources: { requests: { storage: '2Gi' } } } } }, merge));
    expect(resized.status.message.split('\n')[0]).toMatch(/spec: Forbidden: spec is immutable after creation/);
    const same = await core.patchNamespacedPersistentVolumeClaim({ name: 'waiting', namespace: NS, body: { spec: { resources: { requests: { storage: '1024Mi' } } } } }, merge);
    expect(same.spec!.resources!.requests!.storage).toBe('1024Mi');
    const named = await core.patchNamespacedPersistentVolumeClaim({ name: 'waiting', namespace: NS, body: { spec: { volumeName: 'pv-later' } } }, merge);
    expect(named.spec!.volumeName).toBe('pv-later');
    const renamed = await apiFailure(() => core.patchNamespacedPersistentVolumeClaim({ name: 'waiting', namespace: NS, body: { spec: { volumeName: 'pv-other' } } }, merge));
    expect(renamed.code).toBe(422);
  });

  it('keeps StorageClass parameters immutable', async () => {
    const storage = api.kubeConfig.makeApiClient(StorageV1Api);
    await storage.createStorageClass({ body: { metadata: { name: 'sc' }, provisioner: 'csi.hoard.dev', parameters: { dataset: 'a' } } });
    const f = await apiFailure(() => storage.patchStorageClass({ name: 'sc', body: { parameters: { dataset: 'b' } } }, merge));
    expect(f.status.message).toBe('StorageClass.storage.k8s.io "sc" is invalid: parameters: Forbidden: updates to parameters are forbidden.');
  });
});
