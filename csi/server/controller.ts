import { status } from '@grpc/grpc-js';
import type { Logger } from '../../lib/log.js';
import {
  PVC_NAMESPACE_KEY,
  capabilityProblem,
  capacityFits,
  capacityFor,
  checkCapabilities,
  parseCapacity,
  parseParameters,
  requireName,
  volumeIdFor,
  type ViewRequest,
} from '../controller/request.js';
import type { DatasetSource, DatasetView } from '../controller/datasets.js';
import type { VolumeRecord, VolumeStore } from '../controller/store.js';
import { KeyedLock } from '../node/keyed-lock.js';
import { CsiError, alreadyExists, failedPrecondition, internal, invalidArgument, notFound, unavailable } from './errors.js';
import type { CreateVolumeRequest, DeleteVolumeRequest, ValidateVolumeCapabilitiesRequest } from './types.js';
import { parseVolumeContext, requireVolumeId } from './validation.js';

export interface ControllerDeps {
  datasets: DatasetSource;
  store: VolumeStore;
  logger: Logger;
}

const sameMap = (a: Record<string, string>, b: Record<string, string>) =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

/** Whether the Dataset's owner lets a claim in `namespace` use it (its own namespace always may). */
export function sharingAllows(ds: DatasetView, namespace: string): boolean {
  if (namespace === ds.metadata.namespace) return true;
  const sharing = ds.spec?.sharing;
  return !!sharing && (sharing.allNamespaces === true || (sharing.namespaces ?? []).includes(namespace));
}

/**
 * CSI Controller service: CreateVolume provisions a read-only view of a Dataset's cache for a
 * claim in any namespace the Dataset shares with; DeleteVolume forgets the view (the cache and
 * its data stay). Every other Controller RPC is UNIMPLEMENTED (grpc-js answers for the ones
 * without a handler), as the spec allows for capabilities not advertised.
 */
export function controllerHandlers(deps: ControllerDeps) {
  const lock = new KeyedLock();
  const { datasets, store, logger } = deps;

  async function provision(name: string, view: ViewRequest, parameters: Record<string, string>, capacityBytes: number): Promise<VolumeRecord> {
    const ref = `Dataset ${view.datasetNamespace}/${view.dataset}`;
    const ds = await datasets.dataset(view.datasetNamespace, view.dataset);
    if (!ds) throw notFound(`${ref} does not exist; parameters.dataset and parameters.datasetNamespace must name an existing Dataset`);
    if (view.pvcNamespace === undefined && !ds.spec?.sharing?.allNamespaces) {
      throw invalidArgument(`parameters.${PVC_NAMESPACE_KEY} is required to check ${ref}'s spec.sharing; run csi-provisioner with --extra-create-metadata`);
    }
    if (view.pvcNamespace !== undefined && !sharingAllows(ds, view.pvcNamespace)) {
      throw new CsiError(
        status.PERMISSION_DENIED,
        `${ref} is not shared with namespace "${view.pvcNamespace}"; its owner can add it to spec.sharing.namespaces (or set spec.sharing.allNamespaces: true)`,
      );
    }
    if (ds.metadata.deletionTimestamp) throw failedPrecondition(`${ref} is being deleted; no new volumes are provisioned from it`);
    if (ds.status?.phase !== 'Bound') throw unavailable(`${ref} is ${ds.status?.phase ?? 'not yet reconciled'}, not Bound; retry once its cache workers are ready`);
    const pvName = ds.status?.pv ?? `hoard-${view.datasetNamespace}-${view.dataset}`;
    const pv = await datasets.volume(pvName);
    const attrs = pv?.spec?.csi?.volumeAttributes;
    if (!attrs) throw unavailable(`${ref}: its PersistentVolume ${pvName} is not there yet; retry shortly`);
    // The operator's own PV context (workers, mount table, FUSE options), forced read-only, with
    // the sub-path the node publishes. Checked as the node will check it, so no view is handed
    // out that NodeStageVolume would refuse.
    const volumeContext: Record<string, string> = { ...attrs, readOnly: 'true', ...(view.subPath ? { subPath: view.subPath } : {}) };
    try {
      parseVolumeContext(volumeContext);
    } catch (err) {
      throw internal(`${ref}: PersistentVolume ${pvName} has a volume context the node would refuse: ${(err as Error).message}`);
    }
    return store.create({ name, volumeId: volumeIdFor(name), capacityBytes, parameters, volumeContext, dataset: view.dataset, datasetNamespace: view.datasetNamespace });
  }

  return {
    ControllerGetCapabilities: async () => ({ capabilities: [{ rpc: { type: 'CREATE_DELETE_VOLUME' } }] }),

    CreateVolume: async (req: CreateVolumeRequest) => {
      const name = requireName(req.name);
      checkCapabilities(req.volume_capabilities);
      if (req.volume_content_source) throw invalidArgument('volume_content_source: Hoard volumes are views of a Dataset; they cannot be cloned or restored from snapshots');
      const parameters = req.parameters ?? {};
      const view = parseParameters(parameters);
      const capacity = parseCapacity(req.capacity_range);
      const volumeId = volumeIdFor(name);
      return lock.run(volumeId, async () => {
        let record = await store.get(volumeId);
        if (record) {
          if (record.name !== name) throw internal(`volume id ${volumeId} is recorded for another name`);
          if (!sameMap(record.parameters, parameters)) throw alreadyExists(`volume "${name}" already exists with other parameters (${record.datasetNamespace}/${record.dataset}); use a new name`);
          if (!capacityFits(record.capacityBytes, capacity)) throw alreadyExists(`volume "${name}" already exists with capacity ${record.capacityBytes} bytes, outside the requested range`);
        } else {
          record = await provision(name, view, parameters, capacityFor(capacity));
          logger.info({ volumeId, name, dataset: `${view.datasetNamespace}/${view.dataset}`, subPath: view.subPath, claim: view.pvcName ? `${view.pvcNamespace}/${view.pvcName}` : undefined }, 'volume provisioned: read-only view of the dataset');
        }
        return { volume: { volume_id: record.volumeId, capacity_bytes: record.capacityBytes, volume_context: record.volumeContext, accessible_topology: [] } };
      });
    },

    DeleteVolume: async (req: DeleteVolumeRequest) => {
      const volumeId = requireVolumeId(req.volume_id);
      await lock.run(volumeId, async () => {
        // Nothing is stored for a view but its record: the dataset's cache and its data stay.
        await store.delete(volumeId);
      });
      logger.info({ volumeId }, 'volume deleted (the dataset and its cache are untouched)');
      return {};
    },

    ValidateVolumeCapabilities: async (req: ValidateVolumeCapabilitiesRequest) => {
      const volumeId = requireVolumeId(req.volume_id);
      if (!req.volume_capabilities || req.volume_capabilities.length === 0) throw invalidArgument('volume_capabilities is required (at least one)');
      const record = await store.get(volumeId);
      if (!record) throw notFound(`volume ${volumeId} does not exist`);
      for (const cap of req.volume_capabilities) {
        const problem = capabilityProblem(cap);
        if (problem) return { message: problem };
      }
      const context = req.volume_context ?? {};
      if (Object.keys(context).length > 0 && !sameMap(context, record.volumeContext)) return { message: 'volume_context is not the one this volume was created with' };
      const parameters = req.parameters ?? {};
      if (Object.keys(parameters).length > 0 && !sameMap(parameters, record.parameters)) return { message: 'parameters are not the ones this volume was created with' };
      return { confirmed: { volume_context: context, volume_capabilities: req.volume_capabilities, parameters, mutable_parameters: {} } };
    },
  };
}
