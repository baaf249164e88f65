import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { mountTableFromArgs, validateMountTable, type MountTable } from '../../lib/mounts.js';
import { parseSize } from '../../lib/units.js';
import type { EvictionPolicyName, TierConfig } from '../store/types.js';
import { DEFAULT_STORE_TIMEOUT_MS } from '../ufs/deadline.js';
import { parseListen, type ListenAddress } from './address.js';

/** `hoard worker` flags as commander hands them over. */
export interface WorkerFlags {
  id?: string;
  listen?: string;
  http?: string;
  mountsFile?: string;
  ufs?: string[];
  tier?: string[];
  pageSize?: string;
  eviction?: string;
  metaTtl?: string;
  loadConcurrency?: string;
  ufsReadAhead?: string;
  shortCircuitDir?: string;
  storeTimeout?: string;
}

export interface WorkerConfig {
  id: string;
  listen: ListenAddress;
  http: ListenAddress;
  mounts: MountTable;
  tiers: TierConfig[];
  pageSize: number;
  eviction: EvictionPolicyName;
  metaTtlMs: number;
  loadConcurrency: number;
  /** Bytes a sequential miss reads ahead in one ranged read (CachedReaderOptions.readAheadBytes). */
  ufsReadAheadBytes: number;
  /** Where clients on this host find the RAM-disk MEM tier, when that is not the worker's own path (a pod's emptyDir seen from the node). */
  shortCircuitDir?: string;
  /** Deadline of each under-storage call (worker/ufs/deadline.ts). */
  storeTimeoutMs: number;
}

export const DEFAULT_TIER = 'MEM:512Mi';
/** The longest ranged read a worker makes (CachedReader's maxRunBytes default). */
const MAX_RUN_BYTES = 16 * 2 ** 20;
/** A worker id (its place on the ring): a pod name, or any stable name of the same characters. */
export const WORKER_ID = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,251}[A-Za-z0-9])?$/;

/** Validates every flag; each error names the flag and shows a valid value. */
export async function workerConfigFromFlags(f: WorkerFlags): Promise<WorkerConfig> {
  if (!f.id || !WORKER_ID.test(f.id)) {
    throw new Error(`--id: ${f.id ? `"${f.id}" is not valid` : 'required'}; use the worker's stable name, e.g. --id imagenet-worker-0 (letters, digits, '-', '_', '.')`);
  }
  if (!f.listen) throw new Error('--listen: required, e.g. --listen 0.0.0.0:9400');
  if (!f.http) throw new Error('--http: required, e.g. --http 0.0.0.0:9401');
  const pageSize = parseSize(f.pageSize ?? '1Mi', '--page-size');
  if (pageSize < 4096 || pageSize > 256 * 2 ** 20) throw new Error(`--page-size: ${f.pageSize} is out of range; use 4Ki to 256Mi, e.g. 1Mi`);
  const eviction = (f.eviction ?? 'lru').toUpperCase();
  if (eviction !== 'LRU' && eviction !== 'LFU') throw new Error(`--eviction: "${f.eviction}" is not supported; use lru or lfu`);
  const loadConcurrency = Number(f.loadConcurrency ?? 8);
  if (!Number.isInteger(loadConcurrency) || loadConcurrency < 1 || loadConcurrency > 256) {
    throw new Error(`--load-concurrency: "${f.loadConcurrency}" is not valid; use an integer from 1 to 256`);
  }
  const ufsReadAheadBytes = parseSize(f.ufsReadAhead ?? '16Mi', '--ufs-read-ahead');
  if (ufsReadAheadBytes < 0 || ufsReadAheadBytes > MAX_RUN_BYTES) {
    throw new Error(`--ufs-read-ahead: ${f.ufsReadAhead} is out of range; use 0 (off) to 16Mi, e.g. 16Mi`);
  }
  const tiers = (f.tier && f.tier.length > 0 ? f.tier : [DEFAULT_TIER]).map(parseTier);
  if (f.shortCircuitDir !== undefined) {
    if (!tiers.some((t) => t.medium === 'MEM' && t.path !== undefined)) {
      throw new Error('--short-circuit-dir: only means something with a MEM tier on a RAM disk; add e.g. --tier MEM:/dev/shm/hoard:1Gi, or drop the flag');
    }
    if (!isAbsolute(f.shortCircuitDir)) throw new Error(`--short-circuit-dir: "${f.shortCircuitDir}" must be an absolute path, e.g. /var/lib/kubelet/pods/<pod uid>/volumes/kubernetes.io~empty-dir/cache-mem0`);
  }
  const storeTimeoutMs = f.storeTimeout === undefined ? DEFAULT_STORE_TIMEOUT_MS : parseDuration(f.storeTimeout, '--store-timeout');
  if (storeTimeoutMs < 100 || storeTimeoutMs > 600_000) {
    throw new Error(`--store-timeout: ${f.storeTimeout} is out of range; use 100ms to 10m, e.g. 8s (keep it below the clients' 10 s call deadline)`);
  }
  return {
    id: f.id,
    listen: parseListen(f.listen, '--listen'),
    http: parseListen(f.http, '--http'),
    mounts: await mountsFrom(f),
    tiers,
    pageSize,
    eviction,
    metaTtlMs: parseDuration(f.metaTtl ?? '5m', '--meta-ttl'),
    loadConcurrency,
    ufsReadAheadBytes,
    shortCircuitDir: f.shortCircuitDir,
    storeTimeoutMs,
  };
}

async function mountsFrom(f: WorkerFlags): Promise<MountTable> {
  const ufs = f.ufs ?? [];
  if (f.mountsFile && ufs.length > 0) throw new Error('--mounts-file and --ufs: give one of them, not both');
  if (f.mountsFile) {
    let text: string;
    try {
      text = await readFile(f.mountsFile, 'utf8');
    } catch (err) {
      throw new Error(`--mounts-file: cannot read ${f.mountsFile}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (err) {
      throw new Error(`--mounts-file: ${f.mountsFile} is not JSON or YAML: ${(err as Error).message}`);
    }
    try {
      return validateMountTable(parsed);
    } catch (err) {
      throw new Error(`--mounts-file ${f.mountsFile}: ${(err as Error).message}`);
    }
  }
  if (ufs.length === 0) throw new Error('--mounts-file or --ufs: required, e.g. --ufs train=s3://bucket/train or --mounts-file /etc/hoard/mounts.json');
  try {
    return mountTableFromArgs(ufs);
  } catch (err) {
    throw new Error(`--ufs: ${(err as Error).message}`);
  }
}

/**
 * MEM:QUOTA, MEM:/ramdisk/dir:QUOTA[:HIGH:LOW] (pages as files on tmpfs, readable by clients on
 * the same host) or SSD|HDD:/abs/dir:QUOTA[:HIGH:LOW] (HIGH/LOW are fractions of the quota).
 */
export function parseTier(raw: string): TierConfig {
  const example = 'use MEM:512Mi, MEM:/dev/shm/hoard:512Mi or SSD:/mnt/nvme/hoard:10Gi[:0.95:0.8]';
  const parts = raw.split(':');
  const medium = parts[0]?.toUpperCase();
  if (medium === 'MEM' && parts.length === 2) return { medium, quota: positiveSize(parts[1], raw) };
  if (medium !== 'MEM' && medium !== 'SSD' && medium !== 'HDD') throw new Error(`--tier: "${raw}": medium must be MEM, SSD or HDD; ${example}`);
  if (parts.length !== 3 && parts.length !== 5) throw new Error(`--tier: "${raw}" is not valid (a path may not contain ':'); ${example}`);
  const path = parts[1];
  if (!isAbsolute(path)) throw new Error(`--tier: "${raw}": the directory must be an absolute path; ${example}`);
  const tier: TierConfig = { medium, path, quota: positiveSize(parts[2], raw) };
  if (parts.length === 5) {
    const high = Number(parts[3]);
    const low = Number(parts[4]);
    if (!(high > 0 && high <= 1 && low > 0 && low < high)) {
      throw new Error(`--tier: "${raw}": watermarks must satisfy 0 < low < high <= 1, e.g. :0.95:0.8`);
    }
    tier.high = high;
    tier.low = low;
  }
  return tier;
}

function positiveSize(v: string, raw: string): number {
  const n = parseSize(v, `--tier ${raw}: quota`);
  if (n <= 0) throw new Error(`--tier ${raw}: quota must be more than 0, e.g. 512Mi`);
  return n;
}

/** "30s", "500ms", "2m", "1h" or a bare number of seconds. */
export function parseDuration(raw: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(raw);
  if (!m) throw new Error(`${flag}: "${raw}" is not a duration; use e.g. 30s, 500ms, 2m`);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']!;
  return Math.round(Number(m[1]) * mult);
}
