import type { KubeClients } from './clients.js';
import { isNotFound } from './errors.js';

/**
 * Which group/version/resources the API server serves, from discovery (GET /apis/<group>/<version>),
 * cached for `ttlMs` so a cluster upgrade or a newly enabled API group is noticed without a restart.
 * A group version the server does not know answers 404: that means "not served", not an error.
 */
export class ServedApis {
  private readonly cache = new Map<string, { at: number; resources: Set<string> | undefined }>();

  constructor(
    private readonly k: KubeClients,
    private readonly ttlMs = 60_000,
  ) {}

  async serves(group: string, version: string, plural: string): Promise<boolean> {
    const key = `${group}/${version}`;
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.resources?.has(plural) ?? false;
    let resources: Set<string> | undefined;
    try {
      const list = await this.k.custom.getAPIResources({ group, version });
      resources = new Set((list.resources ?? []).map((r) => r.name));
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    this.cache.set(key, { at: Date.now(), resources });
    return resources?.has(plural) ?? false;
  }
}
