// The mount pod and its Secret as pure builders: valid against the official Kubernetes schemas,
// deterministic names, no credential in the pod, and a mount table whose credential paths are
// relative to the file (so `hoard mount` finds them wherever the Secret volume is mounted).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { describe, expect, it } from 'vitest';
import { readMountsFile } from '../bin/commands/client-args.js';
import { buildMountPod, buildMountSecret, credentialFields, fsDir, labelValue, mountPodName, nodeSelector, volumeHash } from '../csi/node/mount-pod-spec.js';
import { parseVolumeContext } from '../csi/server/validation.js';

const config = parseVolumeContext({
  dataset: 'imagenet',
  namespace: 'ml',
  workers: 'srv:_grpc._tcp.imagenet-worker.ml.svc.cluster.local',
  mounts: JSON.stringify({ mounts: [{ name: 'train', uri: 's3://b/train', options: { region: 'us-east-1' } }, { name: 'labels', uri: 'https://h/labels' }] }),
  readOnly: 'true',
  'fuse.kernelCache': 'true',
});
const credentials = new Map([['train', { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'sekrit/value' }]]);
const input = {
  volumeId: 'ml/imagenet',
  nodeName: 'node-a.example.internal',
  namespace: 'hoard-system',
  image: 'ghcr.io/hoard-dev/hoard:0.2.0',
  imagePullPolicy: 'IfNotPresent',
  priorityClassName: 'system-node-critical',
  hostDir: '/var/lib/kubelet/plugins/csi.hoard.dev/mounts/abc',
  stagingPath: '/var/lib/kubelet/plugins/kubernetes.io/csi/csi.hoard.dev/0123/globalmount',
  config,
  resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
  secretName: 'hoard-fuse-x',
  credentialFields: credentialFields(credentials),
};

describe('mount pod spec', () => {
  it('is a valid Pod pinned to the node, privileged, Bidirectional into the host directory, restarted by the kubelet', () => {
    const pod = buildMountPod(input);
    expect(() => new Pod(pod as never).validate()).not.toThrow();
    expect(pod.metadata!.namespace).toBe('hoard-system');
    expect(pod.spec!.nodeName).toBe('node-a.example.internal');
    expect(pod.spec!.restartPolicy).toBe('Always');
    expect(pod.spec!.priorityClassName).toBe('system-node-critical');
    const c = pod.spec!.containers[0]!;
    expect(c.image).toBe('ghcr.io/hoard-dev/hoard:0.2.0');
    expect(c.securityContext!.privileged).toBe(true);
    expect(c.terminationMessagePolicy).toBe('FallbackToLogsOnError');
    expect(c.resources).toEqual(input.resources);
    expect(c.command).toEqual(['hoard']);
    expect(c.args!.slice(0, 2)).toEqual(['mount', fsDir(input.hostDir)]);
    expect(c.args).toEqual(expect.arrayContaining(['--workers-srv', '_grpc._tcp.imagenet-worker.ml.svc.cluster.local', '--mounts-file', '/etc/hoard/volume/mounts.json', '--read-only', '--kernel-cache', '--allow-other']));
    expect(c.volumeMounts).toContainEqual({ name: 'mount-dir', mountPath: input.hostDir, mountPropagation: 'Bidirectional' });
    expect(pod.spec!.volumes).toContainEqual({ name: 'mount-dir', hostPath: { path: input.hostDir, type: 'DirectoryOrCreate' } });
    const secretVol = pod.spec!.volumes!.find((v) => v.name === 'volume')!;
    expect(secretVol.secret!.items).toEqual([
      { key: 'mounts.json', path: 'mounts.json' },
      { key: 'train.accessKeyId', path: 'credentials/train/accessKeyId' },
      { key: 'train.secretAccessKey', path: 'credentials/train/secretAccessKey' },
    ]);
    expect(pod.metadata!.labels).toEqual({
      'app.kubernetes.io/name': 'hoard',
      'app.kubernetes.io/component': 'fuse',
      'app.kubernetes.io/instance': 'imagenet',
      'data.hoard.dev/dataset-namespace': 'ml',
      'data.hoard.dev/volume': volumeHash('ml/imagenet'),
      'data.hoard.dev/node': 'node-a.example.internal',
    });
    expect(pod.metadata!.annotations).toEqual({ 'data.hoard.dev/volume-id': 'ml/imagenet', 'data.hoard.dev/staging-path': input.stagingPath });
    // No credential anywhere in the pod: not in args, env or annotations.
    expect(JSON.stringify(pod)).not.toMatch(/AKIAEXAMPLE|sekrit/);
    expect(c.env).toBeUndefined();
  });

  it('mounts the read-only data volumes of file:// mounts (host path, NFS) where the table points, but no PVC of another namespace', () => {
    const withData = parseVolumeContext({
      dataset: 'imagenet',
      namespace: 'ml',
      workers: 'srv:_grpc._tcp.imagenet-worker.ml.svc.cluster.local',
      mounts: JSON.stringify({
        mounts: [
          { name: 'local', uri: 'file:///hoard/ufs/local', volume: { name: 'ufs-0', mountPath: '/hoard/ufs/local', source: { hostPath: { path: '/mnt/data', type: 'Directory' } } } },
          { name: 'nfs', uri: 'file:///hoard/ufs/nfs/sub', volume: { name: 'ufs-1', mountPath: '/hoard/ufs/nfs', source: { nfs: { server: 'nfs.example', path: '/export', readOnly: true } } } },
          { name: 'claim', uri: 'file:///hoard/ufs/claim', volume: { name: 'ufs-2', mountPath: '/hoard/ufs/claim', namespace: 'ml', source: { persistentVolumeClaim: { claimName: 'raw', readOnly: true } } } },
        ],
      }),
    });
    const pod = buildMountPod({ ...input, config: withData, credentialFields: {} });
    expect(() => new Pod(pod as never).validate()).not.toThrow();
    expect(pod.spec!.volumes).toContainEqual({ name: 'ufs-0', hostPath: { path: '/mnt/data', type: 'Directory' } });
    expect(pod.spec!.volumes).toContainEqual({ name: 'ufs-1', nfs: { server: 'nfs.example', path: '/export', readOnly: true } });
    expect(pod.spec!.volumes!.map((v) => v.name)).not.toContain('ufs-2');
    expect(pod.spec!.containers[0]!.volumeMounts).toContainEqual({ name: 'ufs-0', mountPath: '/hoard/ufs/local', readOnly: true });
    expect(pod.spec!.containers[0]!.volumeMounts).toContainEqual({ name: 'ufs-1', mountPath: '/hoard/ufs/nfs', readOnly: true });
  });

  it('leaves out the priority class when configured empty', () => {
    expect(buildMountPod({ ...input, priorityClassName: '' }).spec!.priorityClassName).toBeUndefined();
  });

  it('names: deterministic per volume and node, DNS labels of at most 63 characters', () => {
    const a = mountPodName('ml/imagenet', 'node-a');
    expect(a).toBe(mountPodName('ml/imagenet', 'node-a'));
    expect(a).not.toBe(mountPodName('ml/imagenet', 'node-b'));
    expect(a).not.toBe(mountPodName('ml/imagenet2', 'node-a'));
    expect(a).toMatch(/^hoard-fuse-ml-imagenet-[0-9a-f]{16}$/);
    for (const id of ['x'.repeat(256), '///', 'UPPER/Case_and.dots', 'a'.repeat(40) + '/-']) {
      const n = mountPodName(id, 'n'.repeat(253));
      expect(n.length).toBeLessThanOrEqual(63);
      expect(n).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
    expect(labelValue('node-1')).toBe('node-1');
    expect(labelValue('n'.repeat(64))).toMatch(/^h-[0-9a-f]{40}$/);
    expect(nodeSelector('node-1')).toBe('app.kubernetes.io/name=hoard,app.kubernetes.io/component=fuse,data.hoard.dev/node=node-1');
  });

  it('Secret: a valid Secret holding the table and the credential files; hoard mount resolves the relative paths', async () => {
    const secret = buildMountSecret(input, credentials);
    expect(() => new Secret(secret as never).validate()).not.toThrow();
    expect(Object.keys(secret.data!).sort()).toEqual(['mounts.json', 'train.accessKeyId', 'train.secretAccessKey']);
    const table = JSON.parse(Buffer.from(secret.data!['mounts.json']!, 'base64').toString()) as { mounts: { name: string; credentialsDir?: string }[] };
    expect(table.mounts.map((m) => [m.name, m.credentialsDir])).toEqual([['train', 'credentials/train'], ['labels', undefined]]);
    // Materialise it the way the kubelet does (items -> files) and read it as hoard mount does.
    const dir = await mkdtemp(join(tmpdir(), 'hoard-mount-secret-'));
    try {
      const pod = buildMountPod(input);
      for (const item of pod.spec!.volumes!.find((v) => v.name === 'volume')!.secret!.items!) {
        await mkdir(join(dir, item.path, '..'), { recursive: true });
        await writeFile(join(dir, item.path), Buffer.from(secret.data![item.key]!, 'base64'));
      }
      const read = await readMountsFile(join(dir, 'mounts.json'));
      expect(read.mounts[0]!.credentialsDir).toBe(join(dir, 'credentials', 'train'));
      expect(read.mounts[1]!.credentialsDir).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
