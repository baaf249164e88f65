export { PageStore } from './page-store.js';
export { CachedReader, type CachedReaderOptions } from './cached-reader.js';
export { MetadataCache, type MetadataCacheOptions } from './metadata-cache.js';
export { fileId, pageKey, pageSpan, pageLength, versionOf } from './page-key.js';
export type { Medium, EvictionPolicyName, TierConfig, PageStoreOptions, PageStoreStats, TierStats, ReaderStats } from './types.js';
