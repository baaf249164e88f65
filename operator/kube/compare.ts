import { parseSize } from '../../lib/units.js';

/**
 * Whether everything `desired` says is already true of `actual`. The API server adds defaults
 * (probe timeouts, dnsPolicy, …) and canonicalises quantities (8192Mi -> 8Gi), so "equal" means
 * "desired is a subset of actual, quantities compared by value".
 */
export function isSubset(desired: unknown, actual: unknown): boolean {
  if (desired === undefined) return true;
  if (desired === null) return actual === null || actual === undefined;
  if (Array.isArray(desired)) {
    return Array.isArray(actual) && actual.length === desired.length && desired.every((d, i) => isSubset(d, actual[i]));
  }
  if (desired instanceof Date || actual instanceof Date) {
    return new Date(desired as string).getTime() === new Date(actual as string).getTime();
  }
  if (typeof desired === 'object') {
    if (typeof actual !== 'object' || actual === null) return false;
    return Object.entries(desired as Record<string, unknown>).every(([k, v]) => isSubset(v, (actual as Record<string, unknown>)[k]));
  }
  if (desired === actual) return true;
  if (typeof desired === 'string' && typeof actual === 'string') return sameQuantity(desired, actual);
  if (typeof desired === 'number' && typeof actual === 'string') return String(desired) === actual;
  return false;
}

function sameQuantity(a: string, b: string): boolean {
  try {
    return /^\d/.test(a) && /^\d/.test(b) && parseSize(a) === parseSize(b);
  } catch {
    return false;
  }
}
