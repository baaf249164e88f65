import { validateMountTable } from '../../lib/mounts.js';
import { parseSize } from '../../lib/units.js';
import { ufsPlacement } from '../builders/ufs-volumes.js';
import type { CacheRuntimeSpec, DataLoadSpec, DatasetSpec } from './types.js';

/**
 * Checks the schema cannot express (cross-field rules, quantities, credentials in options).
 * Each problem names the field and the fix; an empty list means valid.
 */
export interface SpecProblem {
  field: string;
  message: string;
}

const SECRET_OPTION_KEYS = ['accesskeyid', 'secretaccesskey', 'sessiontoken', 'password'];

export function validateDatasetSpec(spec: DatasetSpec | undefined): SpecProblem[] {
  if (!spec || !Array.isArray(spec.mounts)) return [{ field: 'spec.mounts', message: 'spec.mounts: required, a list of {name, uri}' }];
  const problems: SpecProblem[] = [];
  try {
    // Path uris (file://, nfs://, pvc://) are checked as the workers will see them: on their volume.
    const mounts = spec.mounts.map(({ name, uri, options, readOnly }, i) => {
      const placed = typeof uri === 'string' && typeof name === 'string' ? ufsPlacement({ name, uri }, i, 'default') : undefined;
      return { name, uri: placed?.uri ?? uri, options, readOnly, ...(placed ? { volume: placed.volume } : {}) };
    });
    validateMountTable({ mounts });
  } catch (e) {
    const message = (e as Error).message;
    const field = message.split(':')[0];
    problems.push({ field: field.startsWith('spec.') ? field : `spec.${field}`, message: message.startsWith('spec.') ? message : `spec.${message}` });
  }
  spec.mounts.forEach((m, i) => {
    for (const key of Object.keys(m.options ?? {})) {
      if (SECRET_OPTION_KEYS.includes(key.toLowerCase())) {
        const field = `spec.mounts[${i}].options.${key}`;
        problems.push({ field, message: `${field}: credentials must not be inline; put them in a Secret and set spec.mounts[${i}].credentials.secretRef.name` });
      }
    }
  });
  if (spec.sharing?.allNamespaces && (spec.sharing.namespaces ?? []).length > 0) {
    problems.push({ field: 'spec.sharing', message: 'spec.sharing: set either allNamespaces: true or a list of namespaces, not both' });
  }
  return problems;
}

export function validateRuntimeSpec(spec: CacheRuntimeSpec | undefined): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const levels = spec?.tieredStore?.levels;
  if (!levels || levels.length === 0) {
    return [{ field: 'spec.tieredStore.levels', message: 'spec.tieredStore.levels: at least one level is required, e.g. {medium: MEM, quota: 1Gi}' }];
  }
  const media = new Set<string>();
  levels.forEach((level, i) => {
    const at = `spec.tieredStore.levels[${i}]`;
    try {
      if (parseSize(level.quota, `${at}.quota`) <= 0) problems.push({ field: `${at}.quota`, message: `${at}.quota: must be greater than zero, e.g. 8Gi` });
    } catch (e) {
      problems.push({ field: `${at}.quota`, message: (e as Error).message });
    }
    if (level.medium === 'MEM' && media.has('MEM')) problems.push({ field: `${at}.medium`, message: `${at}.medium: only one MEM level is allowed` });
    media.add(level.medium);
    if (level.medium === 'MEM' && level.path) problems.push({ field: `${at}.path`, message: `${at}.path: a MEM level lives in memory; remove path or use medium SSD/HDD` });
    const high = level.high === undefined ? undefined : Number(level.high);
    const low = level.low === undefined ? undefined : Number(level.low);
    if (high !== undefined && low !== undefined && low >= high) {
      problems.push({ field: `${at}.low`, message: `${at}.low: ${level.low} must be below high (${level.high}), e.g. high "0.95", low "0.8"` });
    }
  });
  if (spec?.pageSize !== undefined) {
    try {
      const page = parseSize(spec.pageSize, 'spec.pageSize');
      if (page < 4096 || page > 64 * 2 ** 20) problems.push({ field: 'spec.pageSize', message: `spec.pageSize: ${spec.pageSize} must be between 4Ki and 64Mi` });
    } catch (e) {
      problems.push({ field: 'spec.pageSize', message: (e as Error).message });
    }
  }
  return problems;
}

export function validateDataLoadSpec(spec: DataLoadSpec | undefined): SpecProblem[] {
  const problems: SpecProblem[] = [];
  if (!spec?.dataset?.name) problems.push({ field: 'spec.dataset.name', message: 'spec.dataset.name: required, the Dataset to load (same namespace)' });
  if (spec?.policy === 'Cron' && !spec.schedule) {
    problems.push({ field: 'spec.schedule', message: 'spec.schedule: required when spec.policy is Cron, e.g. "0 * * * *"' });
  }
  for (const [i, p] of (spec?.paths ?? []).entries()) {
    if (!p.startsWith('/') || p.split('/').includes('..')) {
      problems.push({ field: `spec.paths[${i}]`, message: `spec.paths[${i}]: "${p}" must be an absolute path inside the dataset without "..", e.g. /train` });
    }
  }
  if (spec?.bandwidth !== undefined) {
    try {
      parseSize(spec.bandwidth, 'spec.bandwidth');
    } catch (e) {
      problems.push({ field: 'spec.bandwidth', message: (e as Error).message });
    }
  }
  return problems;
}
