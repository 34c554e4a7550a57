import { fileURLToPath } from "node:url";
import type { AgentSoftware, CreateVmConfig, SoftwarePackage } from "@agentos/proto";

/** Host folder of the scripted ACP agent (agents/scripted-agent/agent.mjs). */
export const SCRIPTED_AGENT_DIR = fileURLToPath(new URL("../agents/scripted-agent", import.meta.url));

/**
 * Where the agent's folder is projected in the VM. Under /root/node_modules,
 * like the agent packages of this repository: secure-exec's Node runtime
 * serves package roots there.
 */
export const SCRIPTED_AGENT_VM_DIR = "/root/node_modules/@agentos-conformance/scripted-agent";

/** The agent id CreateSession takes. */
export const SCRIPTED_AGENT_ID = "scripted";

/** The software entry that offers the scripted agent. */
export function scriptedAgentSoftware(overrides: Partial<AgentSoftware> = {}): SoftwarePackage {
  return {
    name: "scripted-agent",
    commandDirs: [],
    agent: {
      id: SCRIPTED_AGENT_ID,
      acpAdapter: "@agentos-conformance/scripted-agent",
      agentPackage: "@agentos-conformance/scripted-agent",
      packageRoots: [{ hostPath: SCRIPTED_AGENT_DIR, vmPath: SCRIPTED_AGENT_VM_DIR }],
      entry: `${SCRIPTED_AGENT_VM_DIR}/agent.mjs`,
      args: [],
      env: {},
      instructionsFlag: "",
      ...overrides,
    },
  };
}

/** A VM configuration whose software offers the scripted agent. */
export function scriptedAgentVmConfig(overrides: Partial<CreateVmConfig> = {}): Partial<CreateVmConfig> {
  return { software: [scriptedAgentSoftware()], ...overrides };
}
