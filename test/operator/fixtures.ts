import type { CacheRuntime, Dataset, DataLoad } from '../../operator/api/types.js';

/** Minimal valid objects as if read back from the API server (with uids). */
export function dataset(over: Partial<Dataset['spec']> = {}, name = 'imagenet', namespace = 'ml'): Dataset {
  return {
    apiVersion: 'data.hoard.dev/v1alpha1',
    kind: 'Dataset',
    metadata: { name, namespace, uid: `uid-ds-${name}`, generation: 1 },
    spec: {
      mounts: [
        { name: 'train', uri: 's3://datasets/imagenet/train', options: { endpoint: 'https://s3.example.com', region: 'us-east-1' }, credentials: { secretRef: { name: 's3-creds' } } },
        { name: 'labels', uri: 'file:///mnt/nfs/labels' },
      ],
      ...over,
    },
  };
}

export function runtime(over: Partial<CacheRuntime['spec']> = {}, name = 'imagenet', namespace = 'ml'): CacheRuntime {
  return {
    apiVersion: 'data.hoard.dev/v1alpha1',
    kind: 'CacheRuntime',
    metadata: { name, namespace, uid: `uid-rt-${name}`, generation: 1 },
    spec: {
      replicas: 3,
      tieredStore: {
        levels: [
          { medium: 'MEM', quota: '8Gi' },
          { medium: 'SSD', path: '/mnt/nvme/hoard', quota: '200Gi', high: '0.95', low: '0.8' },
        ],
      },
      ...over,
    },
  };
}

export function dataload(over: Partial<DataLoad['spec']> = {}, name = 'warmup', namespace = 'ml'): DataLoad {
  return {
    apiVersion: 'data.hoard.dev/v1alpha1',
    kind: 'DataLoad',
    metadata: { name, namespace, uid: `uid-dl-${name}`, generation: 1 },
    spec: { dataset: { name: 'imagenet' }, paths: ['/train'], policy: 'Once', ...over },
  };
}
