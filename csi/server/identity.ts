/** CSI Identity service: who the plugin is and whether it can mount right now. */
export const DRIVER_NAME = 'csi.hoard.dev';
export const VENDOR_VERSION = '0.1.0';

export interface IdentityDeps {
  /** Reasons the plugin cannot serve yet (empty = ready). */
  notReady(): Promise<string[]>;
  /** Controller mode: the Controller service is served on this socket, and Identity says so. */
  controller?: boolean;
}

export function identityHandlers(deps: IdentityDeps) {
  return {
    GetPluginInfo: async () => ({ name: DRIVER_NAME, vendor_version: VENDOR_VERSION, manifest: {} }),
    // Only the controller-mode process serves the Controller service; the node plugin's
    // volumes come from it or from the operator's pre-provisioned PVs.
    GetPluginCapabilities: async () => ({ capabilities: deps.controller ? [{ service: { type: 'CONTROLLER_SERVICE' } }] : [] }),
    Probe: async () => ({ ready: { value: (await deps.notReady()).length === 0 } }),
  };
}
