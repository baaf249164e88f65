/**
 * Request shapes as @grpc/proto-loader decodes csi.proto with
 * {keepCase, longs: Number, enums: String, defaults, oneofs}: snake_case names, enum names as
 * strings, missing scalars as their zero value, missing messages as null.
 */
export interface VolumeCapabilityMsg {
  block?: Record<string, never> | null;
  mount?: { fs_type: string; mount_flags: string[]; volume_mount_group: string } | null;
  access_type?: 'block' | 'mount';
  access_mode?: { mode: string } | null;
}

export interface NodeStageVolumeRequest {
  volume_id: string;
  publish_context: Record<string, string>;
  staging_target_path: string;
  volume_capability: VolumeCapabilityMsg | null;
  secrets: Record<string, string>;
  volume_context: Record<string, string>;
}

export interface NodeUnstageVolumeRequest {
  volume_id: string;
  staging_target_path: string;
}

export interface NodePublishVolumeRequest {
  volume_id: string;
  publish_context: Record<string, string>;
  staging_target_path: string;
  target_path: string;
  volume_capability: VolumeCapabilityMsg | null;
  readonly: boolean;
  secrets: Record<string, string>;
  volume_context: Record<string, string>;
}

export interface NodeUnpublishVolumeRequest {
  volume_id: string;
  target_path: string;
}

export interface NodeGetVolumeStatsRequest {
  volume_id: string;
  volume_path: string;
  staging_target_path: string;
}

export interface CreateVolumeRequest {
  name: string;
  capacity_range: { required_bytes: number; limit_bytes: number } | null;
  volume_capabilities: VolumeCapabilityMsg[];
  parameters: Record<string, string>;
  secrets: Record<string, string>;
  volume_content_source: Record<string, unknown> | null;
  mutable_parameters: Record<string, string>;
}

export interface DeleteVolumeRequest {
  volume_id: string;
  secrets: Record<string, string>;
}

export interface ValidateVolumeCapabilitiesRequest {
  volume_id: string;
  volume_context: Record<string, string>;
  volume_capabilities: VolumeCapabilityMsg[];
  parameters: Record<string, string>;
  secrets: Record<string, string>;
}
