/** Shapes shared by the API-server emulator's modules. Objects are plain JSON, never class instances. */
import type { FieldNode } from './fields.js';

/** A Kubernetes object as stored: JSON with metadata. Stored objects are never mutated in place. */
export type KObject = Record<string, any> & { metadata: Record<string, any> };

export interface ScaleSpec {
  /** JSON paths like `.spec.replicas` (the CRD `subresources.scale` format). */
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
}

/** One served resource: a (group, version, plural) triple plus what the server knows about it. */
export interface ResourceType {
  group: string;
  version: string;
  /** `v1` for core, `<group>/<version>` otherwise. */
  apiVersion: string;
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  statusSubresource: boolean;
  scale?: ScaleSpec;
  /** Objects are shared across versions of one group/plural (no conversion, like a CRD with strategy None). */
  storageKey: string;
  /** Whether metadata.generation is maintained. */
  generation: boolean;
  /** DNS-1123 label (namespaces, services) or subdomain (everything else). */
  nameRule: 'label' | 'subdomain';
  /** Propagation when a DELETE names none: batch/v1 Jobs orphan their pods, as on a real server. */
  defaultPropagation: 'Background' | 'Orphan';
  printerColumns: PrinterColumn[];
  /** Set for custom resources: the owning CRD's name and its compiled schema. */
  crdName?: string;
  schema?: CompiledSchema;
}

export interface FieldCause {
  reason: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueNotSupported' | 'FieldValueTypeInvalid' | 'FieldValueForbidden' | 'FieldValueDuplicate' | 'FieldValueTooLong';
  message: string;
  field: string;
}

export interface CompiledSchema {
  /** The declared fields (strict field validation, server-side apply). */
  fields: FieldNode;
  /** Pruning of unknown fields and structural defaulting, applied to a private copy. */
  prepare(obj: KObject): void;
  /** Field errors (empty when valid). */
  validate(obj: KObject): FieldCause[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: WatchEventType;
  rt: ResourceType;
  object: KObject;
  /** The previous state for MODIFIED/DELETED. */
  old?: KObject;
}
