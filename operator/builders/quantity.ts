import { parseSize } from '../../lib/units.js';

/** Bytes as a Kubernetes quantity, rounded up to whole MiB so manifests stay readable. */
export function mebibytes(bytes: number): string {
  return `${Math.ceil(bytes / 2 ** 20)}Mi`;
}

/** A CRD quantity field (int or string) in bytes; `field` names the setting in errors. */
export function quantityBytes(value: string | number, field: string): number {
  const bytes = parseSize(value, field);
  if (bytes <= 0) throw new Error(`${field}: must be greater than zero, e.g. 8Gi`);
  return bytes;
}
