export { type Sidecar, type SidecarOptions, serve } from "./server.js";
export { SIDECAR_VERSION } from "./version.js";
export { DEFAULT_LIMITS, type ResolvedLimits } from "./vm/limits.js";
