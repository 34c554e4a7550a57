export { AgentOs } from "./agent-os.js";
export { AgentOsError, type AgentOsErrorCode } from "./agent-os-error.js";
export { type HostTool, hostTool, MAX_TOOL_DESCRIPTION_LENGTH, type ToolExample, type ToolKit, toolKit } from "./host-tools.js";
export type { SidecarOptions } from "./sidecar-connection.js";
export type * from "./types.js";
