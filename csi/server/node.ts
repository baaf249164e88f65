import { status } from '@grpc/grpc-js';
import type { Logger } from '../../lib/log.js';
import type { VolumeManager } from '../node/volumes.js';
import { statfsUsage, type CacheUsage } from '../node/usage.js';
import { CsiError, failedPrecondition, invalidArgument } from './errors.js';
import type {
  NodeGetVolumeStatsRequest,
  NodePublishVolumeRequest,
  NodeStageVolumeRequest,
  NodeUnpublishVolumeRequest,
  NodeUnstageVolumeRequest,
} from './types.js';
import {
  isReaderOnly,
  parseCapability,
  parseSecrets,
  parseSubPath,
  parseVolumeContext,
  requirePath,
  requireVolumeId,
} from './validation.js';

export interface NodeDeps {
  nodeId: string;
  volumes: VolumeManager;
  usage: CacheUsage;
  logger: Logger;
}

/** CSI Node service: validates each request and hands it to the VolumeManager. */
export function nodeHandlers(deps: NodeDeps) {
  const { volumes } = deps;
  return {
    NodeGetInfo: async () => ({ node_id: deps.nodeId, max_volumes_per_node: 0 }),

    NodeGetCapabilities: async () => ({
      capabilities: ['STAGE_UNSTAGE_VOLUME', 'GET_VOLUME_STATS', 'VOLUME_CONDITION'].map((type) => ({ rpc: { type } })),
    }),

    NodeStageVolume: async (req: NodeStageVolumeRequest) => {
      const volumeId = requireVolumeId(req.volume_id);
      const stagingPath = requirePath(req.staging_target_path, 'staging_target_path');
      const capability = parseCapability(req.volume_capability);
      const config = parseVolumeContext(req.volume_context ?? {});
      if (isReaderOnly(capability)) config.readOnly = true;
      const credentials = parseSecrets(req.secrets ?? {}, config.mounts);
      await volumes.stage({ volumeId, stagingPath, capability, config, credentials });
      return {};
    },

    NodeUnstageVolume: async (req: NodeUnstageVolumeRequest) => {
      const volumeId = requireVolumeId(req.volume_id);
      const stagingPath = requirePath(req.staging_target_path, 'staging_target_path');
      await volumes.unstage(volumeId, stagingPath);
      await deps.usage.forget(volumeId);
      return {};
    },

    NodePublishVolume: async (req: NodePublishVolumeRequest) => {
      const volumeId = requireVolumeId(req.volume_id);
      const targetPath = requirePath(req.target_path, 'target_path');
      const capability = parseCapability(req.volume_capability);
      // Spec error table: STAGE_UNSTAGE_VOLUME is advertised but no staging_target_path was set.
      if (!req.staging_target_path) throw failedPrecondition('staging_target_path is required: this plugin stages volumes (call NodeStageVolume first)');
      const stagingPath = requirePath(req.staging_target_path, 'staging_target_path');
      const subPath = parseSubPath(req.volume_context?.subPath);
      const readOnly = req.readonly || isReaderOnly(capability);
      await volumes.publish({ volumeId, stagingPath, targetPath, capability, readOnly, subPath });
      return {};
    },

    NodeUnpublishVolume: async (req: NodeUnpublishVolumeRequest) => {
      const volumeId = requireVolumeId(req.volume_id);
      const targetPath = requirePath(req.target_path, 'target_path');
      await volumes.unpublish(volumeId, targetPath);
      return {};
    },

    NodeGetVolumeStats: async (req: NodeGetVolumeStatsRequest) => {
      // Spec order: missing fields -> INVALID_ARGUMENT; then an unknown volume -> NOT_FOUND; only
      // then the path, where one the volume is not at (a relative one included) is NOT_FOUND too.
      const volumeId = requireVolumeId(req.volume_id);
      if (!req.volume_path) throw invalidArgument('volume_path is required');
      const record = volumes.lookupPath(volumeId, req.volume_path);
      const volumePath = requirePath(req.volume_path, 'volume_path');
      const condition = await volumes.condition(record);
      const usage =
        (await deps.usage.get(volumeId, record.config)) ?? (condition.abnormal ? undefined : await statfsUsage(volumePath)) ?? [];
      return { usage, volume_condition: condition };
    },

    NodeExpandVolume: async () => {
      throw new CsiError(status.UNIMPLEMENTED, 'NodeExpandVolume: Hoard volumes have no size to expand');
    },
  };
}
