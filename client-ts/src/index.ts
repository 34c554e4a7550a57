export { AgentOs } from "./agent-os.js";
export { AgentOsError, type AgentOsErrorCode } from "./agent-os-error.js";
export type { SidecarOptions } from "./sidecar-connection.js";
export type * from "./types.js";
