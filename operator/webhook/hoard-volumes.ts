import { CoreV1Api, CustomObjectsApi, StorageV1Api, type KubeConfig } from '@kubernetes/client-node';
import { CSI_DRIVER, GROUP, PLURALS, STORAGE_CLASS, VERSION } from '../api/types.js';
import { describeError, isNotFound } from '../kube/errors.js';

/** The few reads that tell whether a pod volume is served by Hoard (all get-by-name). */
export interface VolumeLookup {
  pvc(namespace: string, name: string): Promise<{ volumeName?: string; storageClassName?: string } | undefined>;
  pv(name: string): Promise<{ csiDriver?: string } | undefined>;
  storageClass(name: string): Promise<{ provisioner: string } | undefined>;
  datasetExists(namespace: string, name: string): Promise<boolean>;
}

const orUndefined = async <T>(p: Promise<T>): Promise<T | undefined> => {
  try {
    return await p;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
};

export function kubeVolumeLookup(kc: KubeConfig): VolumeLookup {
  const core = kc.makeApiClient(CoreV1Api);
  const storage = kc.makeApiClient(StorageV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  return {
    pvc: async (namespace, name) => {
      const c = await orUndefined(core.readNamespacedPersistentVolumeClaim({ namespace, name }));
      return c && { volumeName: c.spec?.volumeName || undefined, storageClassName: c.spec?.storageClassName ?? undefined };
    },
    pv: async (name) => {
      const v = await orUndefined(core.readPersistentVolume({ name }));
      return v && { csiDriver: v.spec?.csi?.driver };
    },
    storageClass: async (name) => {
      const sc = await orUndefined(storage.readStorageClass({ name }));
      return sc && { provisioner: sc.provisioner };
    },
    datasetExists: async (namespace, name) =>
      (await orUndefined(custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURALS.Dataset, namespace, name }))) !== undefined,
  };
}

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Mutation runs before validation: names from the pod are checked before they reach a URL. */
const validName = (v: unknown): v is string => typeof v === 'string' && v.length <= 253 && SUBDOMAIN.test(v);

const isObject = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ResolveResult {
  /** Names of the pod volumes Hoard serves. */
  hoard: Set<string>;
  /** Volumes that could not be checked (API errors, timeouts), one line each. */
  warnings: string[];
}

/**
 * Which of a pod's volumes are Hoard's: a PVC whose bound PV uses the csi.hoard.dev driver (or,
 * not yet bound, whose storage class is Hoard's, or which is the PVC of a Dataset the operator is
 * about to create), a generic ephemeral volume of a Hoard storage class, or an inline CSI volume
 * of csi.hoard.dev. A storage class is Hoard's when it is the static class the operator's PVs
 * name, or a StorageClass object whose provisioner is csi.hoard.dev.
 */
export class HoardVolumeResolver {
  constructor(
    private readonly lookup: VolumeLookup,
    private readonly o: { timeoutMs: number; staticClasses?: string[]; driver?: string } = { timeoutMs: 3000 },
  ) {}

  private get driver() {
    return this.o.driver ?? CSI_DRIVER;
  }

  async resolve(namespace: string, volumes: Record<string, unknown>[]): Promise<ResolveResult> {
    const hoard = new Set<string>();
    const warnings: string[] = [];
    const classMemo = new Map<string, Promise<boolean>>();
    const isHoardClass = (name: string) => {
      if ((this.o.staticClasses ?? [STORAGE_CLASS]).includes(name)) return Promise.resolve(true);
      let p = classMemo.get(name);
      if (!p) classMemo.set(name, (p = this.lookup.storageClass(name).then((sc) => sc?.provisioner === this.driver)));
      return p;
    };
    const claimIsHoard = async (claim: string): Promise<boolean> => {
      const pvc = await this.lookup.pvc(namespace, claim);
      if (!pvc) return this.lookup.datasetExists(namespace, claim);
      if (pvc.volumeName && validName(pvc.volumeName)) {
        const pv = await this.lookup.pv(pvc.volumeName);
        if (pv) return pv.csiDriver === this.driver;
      }
      return pvc.storageClassName ? isHoardClass(pvc.storageClassName) : false;
    };
    const check = async (v: Record<string, unknown>): Promise<boolean> => {
      if (isObject(v.csi)) return v.csi.driver === this.driver;
      const claimTemplate = isObject(v.ephemeral) && isObject(v.ephemeral.volumeClaimTemplate) ? v.ephemeral.volumeClaimTemplate : undefined;
      if (claimTemplate) {
        const cls = isObject(claimTemplate.spec) ? claimTemplate.spec.storageClassName : undefined;
        return validName(cls) ? isHoardClass(cls) : false;
      }
      if (isObject(v.persistentVolumeClaim)) {
        const claim = v.persistentVolumeClaim.claimName;
        return validName(claim) ? claimIsHoard(claim) : false;
      }
      return false;
    };
    await Promise.all(
      volumes.map(async (v) => {
        try {
          if (await withTimeout(check(v), this.o.timeoutMs)) hoard.add(String(v.name));
        } catch (e) {
          warnings.push(`hoard: could not tell whether volume "${String(v.name).slice(0, 63)}" is a Hoard volume (${describeError(e).slice(0, 120)}); mountPropagation not added`);
        }
      }),
    );
    return { hoard, warnings };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the API server within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
