/**
 * `@agentos/agent-pi`: the Pi coding agent as agentOS software.
 *
 *   import pi from "@agentos/agent-pi";
 *   const os = await AgentOs.create({ software: [pi] });
 *   const { sessionId } = await os.createSession("pi");
 *
 * The adapter (dist/adapter.mjs, one ESM file) runs inside the VM; this
 * module only says where it is and how to start it.
 */
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

/** A host folder made visible, read-only, at a path inside the VM. */
export interface PackageRoot {
  hostPath: string;
  vmPath: string;
}

/** What `AgentOs.create({ software })` needs to offer an agent. */
export interface AgentSoftwareDescriptor {
  name: string;
  type: "agent";
  /** This package's folder on the host. */
  packageDir: string;
  agent: {
    /** `createSession(id)` */
    id: string;
    /** npm package of the ACP adapter. */
    acpAdapter: string;
    /** npm package of the agent SDK the adapter runs. */
    agentPackage: string;
    /** Host folders projected read-only into the VM for the adapter to run. */
    packageRoots: PackageRoot[];
    /** VM path of the adapter's entry script, run with `node`. */
    entry: string;
    /** Arguments after the entry script. */
    args: string[];
    /** Environment of the adapter process, under the session's own env. */
    env: Record<string, string>;
    /** Flag the OS instructions are passed with (`<flag> <text>`). */
    instructionsFlag: string;
  };
}

const ADAPTER_VM_DIR = "/root/node_modules/@agentos/agent-pi";
const PI_VM_DIR = "/root/node_modules/@mariozechner/pi-coding-agent";

/** Folder of an installed package, found from its entry point. */
function packageFolder(specifier: string, entryDepth: number): string {
  let dir = dirname(fileURLToPath(import.meta.resolve(specifier)));
  for (let i = 0; i < entryDepth; i++) dir = dirname(dir);
  return dir;
}

const packageDir = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
// "@mariozechner/pi-coding-agent" resolves to <package>/dist/index.js.
const piPackageDir = packageFolder("@mariozechner/pi-coding-agent", 1);

const pi: AgentSoftwareDescriptor = {
  name: "pi",
  type: "agent",
  packageDir,
  agent: {
    id: "pi",
    acpAdapter: "@agentos/agent-pi",
    agentPackage: "@mariozechner/pi-coding-agent",
    packageRoots: [
      { hostPath: packageDir, vmPath: ADAPTER_VM_DIR },
      { hostPath: piPackageDir, vmPath: PI_VM_DIR },
    ],
    entry: `${ADAPTER_VM_DIR}/dist/adapter.mjs`,
    args: [],
    env: { PI_PACKAGE_DIR: PI_VM_DIR, PI_OFFLINE: "1" },
    instructionsFlag: "--append-system-prompt",
  },
};

export default pi;
