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

/** Agents and tools become available with agent sessions. */
export interface PackageDescriptor {
  type: "agent" | "tool";
  [key: string]: unknown;
}

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
  /** Not enforced yet: setting it is refused. */
  maxOpenFiles?: number;
  /** Not enforced yet: setting it is refused. */
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

export interface PermissionPolicy {
  /** First match decides; without one, connect and dns are denied. */
  network?: NetworkRule[];
}

export interface NetworkOptions {
  /** "host:port" patterns guest code may connect to. */
  allow?: string[];
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
  /** Not available yet (host toolkits). */
  toolKits?: unknown[];
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
