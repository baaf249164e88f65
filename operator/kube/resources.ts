import type {
  V1ConfigMap,
  V1CronJob,
  V1Job,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1Secret,
  V1Service,
  V1StatefulSet,
} from '@kubernetes/client-node';
import type { Accessor } from './apply.js';
import type { KubeClients } from './clients.js';

/** Accessors for the kinds the operator manages, keyed by the object's own name/namespace. */
export function accessors(k: KubeClients) {
  const ns = (o: { metadata?: { namespace?: string } }) => o.metadata!.namespace!;
  const nm = (o: { metadata?: { name?: string } }) => o.metadata!.name!;
  return {
    configMap: (d: V1ConfigMap): Accessor<V1ConfigMap> => ({
      read: () => k.core.readNamespacedConfigMap({ name: nm(d), namespace: ns(d) }),
      create: (body) => k.core.createNamespacedConfigMap({ namespace: ns(d), body }),
      replace: (body) => k.core.replaceNamespacedConfigMap({ name: nm(d), namespace: ns(d), body }),
    }),
    secret: (d: V1Secret): Accessor<V1Secret> => ({
      read: () => k.core.readNamespacedSecret({ name: nm(d), namespace: ns(d) }),
      create: (body) => k.core.createNamespacedSecret({ namespace: ns(d), body }),
      replace: (body) => k.core.replaceNamespacedSecret({ name: nm(d), namespace: ns(d), body }),
    }),
    service: (d: V1Service): Accessor<V1Service> => ({
      read: () => k.core.readNamespacedService({ name: nm(d), namespace: ns(d) }),
      create: (body) => k.core.createNamespacedService({ namespace: ns(d), body }),
      replace: (body) => k.core.replaceNamespacedService({ name: nm(d), namespace: ns(d), body }),
    }),
    statefulSet: (d: V1StatefulSet): Accessor<V1StatefulSet> => ({
      read: () => k.apps.readNamespacedStatefulSet({ name: nm(d), namespace: ns(d) }),
      create: (body) => k.apps.createNamespacedStatefulSet({ namespace: ns(d), body }),
      replace: (body) => k.apps.replaceNamespacedStatefulSet({ name: nm(d), namespace: ns(d), body }),
    }),
    pv: (d: V1PersistentVolume): Accessor<V1PersistentVolume> => ({
      read: () => k.core.readPersistentVolume({ name: nm(d) }),
      create: (body) => k.core.createPersistentVolume({ body }),
      replace: (body) => k.core.replacePersistentVolume({ name: nm(d), body }),
    }),
    pvc: (d: V1PersistentVolumeClaim): Accessor<V1PersistentVolumeClaim> => ({
      read: () => k.core.readNamespacedPersistentVolumeClaim({ name: nm(d), namespace: ns(d) }),
      create: (body) => k.core.createNamespacedPersistentVolumeClaim({ namespace: ns(d), body }),
      replace: (body) => k.core.replaceNamespacedPersistentVolumeClaim({ name: nm(d), namespace: ns(d), body }),
    }),
    job: (d: V1Job): Accessor<V1Job> => ({
      read: () => k.batch.readNamespacedJob({ name: nm(d), namespace: ns(d) }),
      create: (body) => k.batch.createNamespacedJob({ namespace: ns(d), body }),
      replace: (body) => k.batch.replaceNamespacedJob({ name: nm(d), namespace: ns(d), body }),
    }),
    cronJob: (d: V1CronJob): Accessor<V1CronJob> => ({
      read: () => k.batch.readNamespacedCronJob({ name: nm(d), namespace: ns(d) }),
      create: (body) => k.batch.createNamespacedCronJob({ namespace: ns(d), body }),
      replace: (body) => k.batch.replaceNamespacedCronJob({ name: nm(d), namespace: ns(d), body }),
    }),
  };
}
