import type { PrinterColumn, ResourceType, ScaleSpec } from './types.js';

export interface ResourceTypeInit {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  singular?: string;
  shortNames?: string[];
  categories?: string[];
  status?: boolean;
  scale?: ScaleSpec;
  generation?: boolean;
  nameRule?: 'label' | 'subdomain';
  defaultPropagation?: 'Background' | 'Orphan';
  printerColumns?: PrinterColumn[];
}

export function resourceType(init: ResourceTypeInit): ResourceType {
  return {
    group: init.group,
    version: init.version,
    apiVersion: init.group ? `${init.group}/${init.version}` : init.version,
    plural: init.plural,
    singular: init.singular ?? init.kind.toLowerCase(),
    kind: init.kind,
    listKind: `${init.kind}List`,
    namespaced: init.namespaced,
    shortNames: init.shortNames ?? [],
    categories: init.categories ?? [],
    statusSubresource: init.status ?? false,
    scale: init.scale,
    storageKey: `${init.group}/${init.plural}`,
    generation: init.generation ?? true,
    nameRule: init.nameRule ?? 'subdomain',
    defaultPropagation: init.defaultPropagation ?? 'Background',
    printerColumns: init.printerColumns ?? [],
  };
}

/** Which resources are served, looked up by URL (group, version, plural) or by (apiVersion, kind). */
export class Registry {
  private readonly byGvr = new Map<string, ResourceType>();
  private readonly byGvk = new Map<string, ResourceType>();
  /** Group name -> versions in preference order (first is preferred). */
  private readonly groupVersions = new Map<string, string[]>();

  add(rt: ResourceType): void {
    this.byGvr.set(`${rt.group}/${rt.version}/${rt.plural}`, rt);
    this.byGvk.set(`${rt.apiVersion}/${rt.kind}`, rt);
    const versions = this.groupVersions.get(rt.group) ?? [];
    if (!versions.includes(rt.version)) versions.push(rt.version);
    this.groupVersions.set(rt.group, versions);
  }

  remove(rt: ResourceType): void {
    this.byGvr.delete(`${rt.group}/${rt.version}/${rt.plural}`);
    this.byGvk.delete(`${rt.apiVersion}/${rt.kind}`);
    if (this.resourcesOf(rt.group, rt.version).length === 0) {
      const versions = (this.groupVersions.get(rt.group) ?? []).filter((v) => v !== rt.version);
      if (versions.length) this.groupVersions.set(rt.group, versions);
      else this.groupVersions.delete(rt.group);
    }
  }

  lookup(group: string, version: string, plural: string): ResourceType | undefined {
    return this.byGvr.get(`${group}/${version}/${plural}`);
  }

  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    return this.byGvk.get(`${apiVersion}/${kind}`);
  }

  /** Any served version of a storage bucket (to describe stored objects when no request names one). */
  byStorageKey(storageKey: string): ResourceType | undefined {
    for (const rt of this.byGvr.values()) if (rt.storageKey === storageKey) return rt;
    return undefined;
  }

  resourcesOf(group: string, version: string): ResourceType[] {
    return [...this.byGvr.values()].filter((rt) => rt.group === group && rt.version === version);
  }

  all(): ResourceType[] {
    return [...this.byGvr.values()];
  }

  /** Named API groups (the core group '' is served under /api instead). */
  groups(): { name: string; versions: string[] }[] {
    return [...this.groupVersions.entries()].filter(([name]) => name !== '').map(([name, versions]) => ({ name, versions }));
  }

  hasGroupVersion(group: string, version: string): boolean {
    return (this.groupVersions.get(group) ?? []).includes(version);
  }

  setPreferredVersions(group: string, versions: string[]): void {
    if (versions.length) this.groupVersions.set(group, versions);
  }
}
