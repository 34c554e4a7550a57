import type { ToolKit } from "./host-tools.js";
import type { SidecarOptions } from "./sidecar-connection.js";

/** A WebAssembly command package, such as the default export of @rivet-dev/agent-os-coreutils. */
export interface CommandPackage {
  name?: string;
  commandDir: string;
}

/** A typed software descriptor (`defineSoftware` in @rivet-dev/agent-os-core). */
export interface WasmCommandsDescriptor {
  type: "wasm-commands";
  name?: string;
  commandDir: string;
}

/**
 * An ACP agent whose adapter runs inside the VM, such as the default export
 * of @agentos/agent-pi. `createSession(agent.id)` starts it.
 */
export interface AgentSoftwareDescriptor {
  type: "agent";
  name?: string;
  packageDir?: string;
  agent: {
    id: string;
    acpAdapter: string;
    agentPackage: string;
    /** Host folders made visible, read-only, at VM paths. */
    packageRoots: { hostPath: string; vmPath: string }[];
    /** VM path of the adapter's entry script (run with `node`). */
    entry: string;
    args?: string[];
    env?: Record<string, string>;
    /** The adapter takes the OS instructions as `<flag> <text>`. */
    instructionsFlag?: string;
  };
}

/** Host tools are not available yet. */
export interface ToolSoftwareDescriptor {
  type: "tool";
  [key: string]: unknown;
}

export type PackageDescriptor = AgentSoftwareDescriptor | ToolSoftwareDescriptor;

export type SoftwareInput = CommandPackage | WasmCommandsDescriptor | PackageDescriptor | SoftwareInput[];

export interface Limits {
  /** V8 heap per JavaScript isolate, MiB. Default 128. */
  memoryMiB?: number;
  /** Run time per guest process, ms. Default 30 000. */
  cpuTimeMs?: number;
  /** Wall time per exec() unless the call passes `timeout`, ms. Default 30 000. */
  execTimeoutMs?: number;
  /** Processes alive at once. Default 64. */
  maxProcesses?: number;
  /** Open file descriptors per process, stdio included. Default 256 (also the most the runtime allows). */
  maxOpenFiles?: number;
  /** Sockets open at once in the VM. Default 128. */
  maxSockets?: number;
  /** Output bytes kept per stream (exec results, output nobody reads yet). Default 1 MiB. */
  maxOutputBytes?: number;
  /** Bytes in the VM's own filesystem (mounts not counted). Default 256 MiB. */
  maxFilesystemBytes?: number;
}

export interface NetworkRule {
  effect: "allow" | "deny";
  /** "host:port"; host may be "*" or "*.example.com", port may be "*". */
  pattern: string;
  /** Default: all of connect, listen, dns. */
  ops?: ("connect" | "listen" | "dns")[];
}

/** A rule of the fs, childProcess, env or tool scope (docs/security.md). */
export interface PermissionRule {
  effect: "allow" | "deny";
  /**
   * A glob: `*` never crosses "/", `**` does. fs: an absolute path
   * ("/data/**"); childProcess: a command name ("node") or path; env: a
   * variable name ("AWS_*"); tool: "<toolkit>/<tool>" ("github/*").
   */
  pattern: string;
  /** fs only: "read" and/or "write". Default: both. */
  ops?: ("read" | "write")[];
}

/**
 * What guest code may do. In each scope the rules are evaluated in order
 * and the first match decides; without one the scope's default applies
 * (network: connect and dns denied, listen allowed; every other scope:
 * allowed). /etc/agentos is read-only to the guest whatever the rules say.
 */
export interface PermissionPolicy {
  fs?: PermissionRule[];
  network?: NetworkRule[];
  childProcess?: PermissionRule[];
  env?: PermissionRule[];
  tool?: PermissionRule[];
  /** Replaces a scope's built-in default. */
  defaults?: Partial<Record<"fs" | "network" | "childProcess" | "env" | "tool", "allow" | "deny">>;
}

export interface NetworkOptions {
  /** "host:port" patterns guest code may connect to. */
  allow?: string[];
  /** Host name → IP address the guest's lookups and connections use; the policy still decides by the name. */
  dnsOverrides?: Record<string, string>;
}

export interface MountPlugin {
  /** "memory" (also "host_dir" and "s3" in later versions). */
  id: string;
  config?: Record<string, unknown>;
}

export interface MountConfig {
  path: string;
  plugin: MountPlugin;
  readOnly?: boolean;
}

export interface AgentOsOptions {
  /** Added to the common POSIX command set every VM has. */
  software?: SoftwareInput[];
  mounts?: MountConfig[];
  permissions?: PermissionPolicy;
  limits?: Limits;
  /** Guest environment on top of the VM's base environment; the host's is never copied. */
  env?: Record<string, string>;
  network?: NetworkOptions;
  /** Host loopback ports guest code may connect to. */
  loopbackExemptPorts?: number[];
  /** Host folder whose node_modules is visible read-only at /root/node_modules. */
  moduleAccessCwd?: string;
  /** Which sidecar runs the VM. */
  sidecar?: SidecarOptions;
  /** Not available yet (layered root filesystems). */
  rootFilesystem?: unknown;
  /** Host toolkits: each is the command agentos-<name> in the VM (see toolKit()). */
  toolKits?: ToolKit[];
  /** Not available yet (agent sessions). */
  additionalInstructions?: string;
}

export interface ExecOptions {
  env?: Record<string, string>;
  cwd?: string;
  stdin?: string | Uint8Array;
  /** Milliseconds; overrides limits.execTimeoutMs for this call. */
  timeout?: number;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Set when output beyond limits.maxOutputBytes was dropped. */
  stdoutTruncated?: boolean;
  stderrTruncated?: boolean;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
}

export interface SpawnedProcessInfo {
  pid: number;
  command: string;
  args: string[];
  running: boolean;
  exitCode: number | null;
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  driver: string;
  command: string;
  args: string[];
  cwd: string;
  status: "running" | "stopped" | "exited";
  exitCode: number | null;
  startTime: number;
  exitTime: number | null;
}

export interface ProcessTreeNode extends ProcessInfo {
  children: ProcessTreeNode[];
}

export interface VirtualStat {
  mode: number;
  size: number;
  isDirectory: boolean;
  isSymbolicLink: boolean;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  birthtimeMs: number;
  ino: number;
  nlink: number;
  uid: number;
  gid: number;
}

export interface DirEntry {
  path: string;
  type: "file" | "directory" | "symlink";
  size: number;
}

export interface ReaddirRecursiveOptions {
  /** 0 lists only the immediate children. */
  maxDepth?: number;
  /** Entry names to skip. */
  exclude?: string[];
}

export interface BatchWriteEntry {
  path: string;
  content: string | Uint8Array;
}

export interface BatchWriteResult {
  path: string;
  success: boolean;
  error?: string;
}

export interface BatchReadResult {
  path: string;
  content: Uint8Array | null;
  error?: string;
}

export interface OpenShellOptions {
  cols?: number;
  rows?: number;
  env?: Record<string, string>;
  cwd?: string;
  /** Default "sh". */
  command?: string;
  args?: string[];
}

/** Extra details a stream listener may use. */
export interface OutputInfo {
  /** Bytes lost before this chunk (they exceeded what is held for a slow or absent reader). */
  droppedBytes: number;
}

export interface SubscriptionOptions {
  /** Called if the subscription fails (unknown pid, VM disposed, sidecar gone). Default: a process warning. */
  onError?: (error: Error) => void;
}

// ── Agent sessions ──────────────────────────────────────────────────────

export interface AgentRegistryEntry {
  id: string;
  acpAdapter: string;
  agentPackage: string;
  /** The adapter's entry script is present. */
  installed: boolean;
}

export type PermissionReply = "once" | "always" | "reject";

export interface CreateSessionOptions {
  /** Working directory of the session inside the VM. Default: the VM's home. */
  cwd?: string;
  /** Environment of the agent process (API keys, base URLs, model choice). */
  env?: Record<string, string>;
  /** ACP McpServer objects handed to session/new. */
  mcpServers?: unknown[];
  /** Give the agent none of the base OS instructions. */
  skipOsInstructions?: boolean;
  /** Appended to the OS instructions for this session. */
  additionalInstructions?: string;
  /**
   * Permission requests nobody answers get this reply: at once when no
   * onPermissionRequest handler is registered, otherwise after
   * `permissionTimeoutMs`. Default "reject".
   */
  permissionDefault?: PermissionReply;
  /** Default 300 000 (5 minutes). */
  permissionTimeoutMs?: number;
  /** Longest a prompt may run before it fails with TIMEOUT. Default 1 800 000 (30 minutes). */
  promptTimeoutMs?: number;
}

/** A JSON-RPC 2.0 response, as the agent (or the sidecar for it) answered. */
export interface JsonRpcResponse {
  jsonrpc: "2.0";
  id: number | string | null;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

/** A JSON-RPC 2.0 notification (session/update). */
export interface JsonRpcNotification {
  jsonrpc: "2.0";
  method: string;
  params?: unknown;
}

export interface PromptResult {
  /** The JSON-RPC response to session/prompt; `response.result.stopReason` says how the turn ended. */
  response: JsonRpcResponse;
  /** The agent's message text of this turn. */
  text: string;
}

export interface SequencedEvent {
  sequenceNumber: number;
  notification: JsonRpcNotification;
}

export interface GetEventsOptions {
  /** Only events with a larger sequence number. */
  since?: number;
  /** Only notifications of this method. */
  method?: string;
}

export type SessionEventHandler = (event: JsonRpcNotification) => void;

export interface PermissionRequest {
  /** Pass to respondPermission. */
  permissionId: string;
  /** What the agent wants to do, for a person. */
  description?: string;
  /** The ACP session/request_permission params. */
  params: Record<string, unknown>;
}

export type PermissionRequestHandler = (request: PermissionRequest) => void;

export interface SessionInfo {
  sessionId: string;
  agentType: string;
}

export interface SessionMode {
  id: string;
  name?: string;
  description?: string | null;
  [key: string]: unknown;
}

export interface SessionModeState {
  currentModeId: string;
  availableModes: SessionMode[];
}

/** An ACP session config option (select or boolean). */
export interface SessionConfigOption {
  id: string;
  name: string;
  description?: string | null;
  category?: string | null;
  type: string;
  currentValue: unknown;
  options?: unknown[];
  [key: string]: unknown;
}

/** The agentCapabilities of the agent's initialize answer. */
export type AgentCapabilities = Record<string, unknown>;

export interface AgentInfo {
  name: string;
  title?: string | null;
  version?: string;
  [key: string]: unknown;
}
