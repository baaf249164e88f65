/** CSI Identity service: who the plugin is and whether it can mount right now. */
export const DRIVER_NAME = 'csi.hoard.dev';
export const VENDOR_VERSION = '0.1.0';

export interface IdentityDeps {
  /** Reasons the plugin cannot mount yet (empty = ready). */
  notReady(): Promise<string[]>;
}

export function identityHandlers(deps: IdentityDeps) {
  return {
    GetPluginInfo: async () => ({ name: DRIVER_NAME, vendor_version: VENDOR_VERSION, manifest: {} }),
    // No Controller service: volumes are pre-provisioned PVs written by the operator.
    GetPluginCapabilities: async () => ({ capabilities: [] }),
    Probe: async () => ({ ready: { value: (await deps.notReady()).length === 0 } }),
  };
}
