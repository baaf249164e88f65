// Kubernetes-style quantities ("8Gi", "512Mi", "1G", "1048576") to bytes and back.
const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50 };
const DECIMAL: Record<string, number> = { k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15 };

/** Parses a size; `field` names the setting in the error so the user knows what to fix. */
export function parseSize(value: string | number, field = 'size'): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`${field}: expected a non-negative size, got ${value}`);
    return Math.floor(value);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGTP]i|[kKMGTP])?B?\s*$/.exec(value);
  if (!m) throw new Error(`${field}: "${value}" is not a size; use a number of bytes or a quantity like 512Mi, 8Gi, 1G`);
  const n = Number(m[1]);
  const unit = m[2];
  const mult = unit ? (BINARY[unit] ?? DECIMAL[unit] ?? 1) : 1;
  return Math.floor(n * mult);
}

export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(2)}${units[i]}`;
}
