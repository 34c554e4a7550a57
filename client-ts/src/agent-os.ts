import type { ProcessInfo as WireProcessInfo, ProcessTreeNode as WireTreeNode } from "@agentos/proto";
import { AgentOsError } from "./agent-os-error.js";
import { toCreateVmConfig } from "./create-config.js";
import type { SidecarForwarders } from "./generated/forwarders.js";
import { SidecarConnection } from "./sidecar-connection.js";
import type {
  AgentOsOptions,
  BatchReadResult,
  BatchWriteEntry,
  BatchWriteResult,
  DirEntry,
  ExecOptions,
  ExecResult,
  Limits,
  MountPlugin,
  OpenShellOptions,
  OutputInfo,
  ProcessInfo,
  ProcessTreeNode,
  ReaddirRecursiveOptions,
  SpawnedProcessInfo,
  SpawnOptions,
  SubscriptionOptions,
  VirtualStat,
} from "./types.js";

const encoder = new TextEncoder();
/** Decoded bytes are views into the frame they arrived in; callers get their own copy. */
const owned = (data: Uint8Array): Uint8Array => new Uint8Array(data);
const bytes = (data: string | Uint8Array): Uint8Array => (typeof data === "string" ? encoder.encode(data) : data);

/**
 * A VM run by the agentOS sidecar. Every method forwards one call to the
 * sidecar: nothing is computed here, so behaviour is the same whichever
 * client speaks the protocol.
 */
export class AgentOs {
  private disposed = false;

  private constructor(
    private readonly connection: SidecarConnection,
    /** The sidecar's id for this VM. */
    readonly vmId: string,
    /** The limits in force, defaults included. */
    readonly limits: Readonly<Limits>,
  ) {}

  private get rpc(): SidecarForwarders {
    if (this.disposed && !this.connection.usable) {
      throw new AgentOsError("VM_DISPOSED", `VM ${this.vmId} has been disposed; create a new one with AgentOs.create()`);
    }
    return this.connection.forwarders;
  }

  /** Starts (or reuses) a sidecar and creates a VM with the common POSIX command set and Node. */
  static async create(options: AgentOsOptions = {}): Promise<AgentOs> {
    const config = toCreateVmConfig(options);
    const connection = await SidecarConnection.acquire(options.sidecar);
    try {
      const { vmId, limits } = await connection.forwarders.create({ config });
      return new AgentOs(connection, vmId, {
        memoryMiB: limits?.memoryMib,
        cpuTimeMs: limits?.cpuTimeMs,
        execTimeoutMs: limits?.execTimeoutMs,
        maxProcesses: limits?.maxProcesses,
        maxOutputBytes: limits?.maxOutputBytes,
        maxFilesystemBytes: limits?.maxFilesystemBytes,
      });
    } catch (error) {
      connection.release();
      throw error;
    }
  }

  /** Ends every process and shell of the VM. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    try {
      await this.connection.forwarders.dispose({ vmId: this.vmId });
    } catch (error) {
      // A sidecar that is gone has taken the VM with it.
      if (!(error instanceof AgentOsError && error.code === "UNAVAILABLE")) throw error;
    } finally {
      this.connection.release();
    }
  }

  // ── Filesystem ─────────────────────────────────────────────────────────

  async readFile(path: string): Promise<Uint8Array> {
    return owned((await this.rpc.readFile({ vmId: this.vmId, path })).content);
  }

  async writeFile(path: string, content: string | Uint8Array): Promise<void> {
    await this.rpc.writeFile({ vmId: this.vmId, path, content: bytes(content) });
  }

  /** Reads many files; a file that cannot be read has `content: null` and an `error`. */
  async readFiles(paths: string[]): Promise<BatchReadResult[]> {
    const { results } = await this.rpc.readFiles({ vmId: this.vmId, paths });
    return results.map((r) =>
      r.error && r.content === undefined
        ? { path: r.path, content: null, error: r.error.message }
        : { path: r.path, content: owned(r.content ?? new Uint8Array()) },
    );
  }

  /** Writes many files, creating parent directories; failures are reported per file. */
  async writeFiles(entries: BatchWriteEntry[]): Promise<BatchWriteResult[]> {
    const files = entries.map((e) => ({ path: e.path, content: bytes(e.content) }));
    const { results } = await this.rpc.writeFiles({ vmId: this.vmId, files });
    return results.map((r) => (r.success ? { path: r.path, success: true } : { path: r.path, success: false, error: r.error?.message }));
  }

  async mkdir(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    await this.rpc.mkdir({ vmId: this.vmId, path, recursive: options.recursive ?? false });
  }

  async readdir(path: string): Promise<string[]> {
    return (await this.rpc.readdir({ vmId: this.vmId, path })).names;
  }

  async readdirRecursive(path: string, options: ReaddirRecursiveOptions = {}): Promise<DirEntry[]> {
    const { entries } = await this.rpc.readdirRecursive({
      vmId: this.vmId,
      path,
      maxDepth: options.maxDepth,
      exclude: options.exclude ?? [],
    });
    return entries as DirEntry[];
  }

  async stat(path: string): Promise<VirtualStat> {
    const { stat } = await this.rpc.stat({ vmId: this.vmId, path });
    if (!stat) throw new AgentOsError("PROTOCOL_ERROR", "stat answer carries no stat");
    return stat;
  }

  async exists(path: string): Promise<boolean> {
    return (await this.rpc.exists({ vmId: this.vmId, path })).exists;
  }

  async move(from: string, to: string): Promise<void> {
    await this.rpc.move({ vmId: this.vmId, from, to });
  }

  async delete(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    await this.rpc.delete({ vmId: this.vmId, path, recursive: options.recursive ?? false });
  }

  /** Mounts a filesystem at `path`: `{ id: "memory" }` (host_dir and s3 come later). */
  async mountFs(path: string, plugin: MountPlugin, options: { readOnly?: boolean } = {}): Promise<void> {
    await this.rpc.mountFs({
      vmId: this.vmId,
      mount: { path, pluginId: plugin.id, configJson: JSON.stringify(plugin.config ?? {}), readOnly: options.readOnly ?? false },
    });
  }

  async unmountFs(path: string): Promise<void> {
    await this.rpc.unmountFs({ vmId: this.vmId, path });
  }

  /** Not available yet: answers UNIMPLEMENTED until VMs have layered root filesystems. */
  async snapshotRootFilesystem(): Promise<{ layerId: string }> {
    return this.rpc.snapshotRootFilesystem({ vmId: this.vmId });
  }

  // ── Processes ──────────────────────────────────────────────────────────

  /** Runs a command line through `sh -c` in the VM and collects its output. */
  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const result = await this.rpc.exec({
      vmId: this.vmId,
      command,
      env: options.env ?? {},
      cwd: options.cwd ?? "",
      stdin: options.stdin === undefined ? undefined : bytes(options.stdin),
      timeoutMs: options.timeout,
    });
    return result;
  }

  /** Starts a process. Output it writes before anyone subscribes is held for the first subscriber. */
  async spawn(command: string, args: string[] = [], options: SpawnOptions = {}): Promise<{ pid: number }> {
    return this.rpc.spawn({ vmId: this.vmId, command, args, env: options.env ?? {}, cwd: options.cwd ?? "" });
  }

  async writeProcessStdin(pid: number, data: string | Uint8Array): Promise<void> {
    await this.rpc.writeProcessStdin({ vmId: this.vmId, pid, data: bytes(data) });
  }

  async closeProcessStdin(pid: number): Promise<void> {
    await this.rpc.closeProcessStdin({ vmId: this.vmId, pid });
  }

  onProcessStdout(pid: number, handler: (data: Uint8Array, info: OutputInfo) => void, options?: SubscriptionOptions): () => void {
    return this.rpc.onProcessStdout(
      { vmId: this.vmId, pid },
      (item) => handler(owned(item.data), { droppedBytes: item.droppedBytes }),
      ended(options),
    );
  }

  onProcessStderr(pid: number, handler: (data: Uint8Array, info: OutputInfo) => void, options?: SubscriptionOptions): () => void {
    return this.rpc.onProcessStderr(
      { vmId: this.vmId, pid },
      (item) => handler(owned(item.data), { droppedBytes: item.droppedBytes }),
      ended(options),
    );
  }

  /** Called once with the exit code (at once if the process has exited). */
  onProcessExit(pid: number, handler: (exitCode: number) => void, options?: SubscriptionOptions): () => void {
    return this.rpc.onProcessExit({ vmId: this.vmId, pid }, (item) => handler(item.exitCode), ended(options));
  }

  async waitProcess(pid: number): Promise<number> {
    return (await this.rpc.waitProcess({ vmId: this.vmId, pid })).exitCode;
  }

  /** Processes started with spawn(). */
  async listProcesses(): Promise<SpawnedProcessInfo[]> {
    const { processes } = await this.rpc.listProcesses({ vmId: this.vmId });
    return processes.map((p) => ({ ...p, exitCode: p.exitCode ?? null }));
  }

  /** Every process in the VM, whatever started it. */
  async allProcesses(): Promise<ProcessInfo[]> {
    return (await this.rpc.allProcesses({ vmId: this.vmId })).processes.map(processInfo);
  }

  async processTree(): Promise<ProcessTreeNode[]> {
    return (await this.rpc.processTree({ vmId: this.vmId })).roots.map(treeNode);
  }

  async getProcess(pid: number): Promise<SpawnedProcessInfo> {
    const { process } = await this.rpc.getProcess({ vmId: this.vmId, pid });
    if (!process) throw new AgentOsError("PROTOCOL_ERROR", "getProcess answer carries no process");
    return { ...process, exitCode: process.exitCode ?? null };
  }

  /** SIGTERM; no-op when the process has exited. */
  async stopProcess(pid: number): Promise<void> {
    await this.rpc.stopProcess({ vmId: this.vmId, pid });
  }

  /** SIGKILL to the process and everything it started; no-op when it has exited. */
  async killProcess(pid: number): Promise<void> {
    await this.rpc.killProcess({ vmId: this.vmId, pid });
  }

  /** An HTTP request to a server listening on `port` inside the VM. */
  async fetch(port: number, request: Request): Promise<Response> {
    const url = new URL(request.url);
    const body = request.body ? new Uint8Array(await request.arrayBuffer()) : undefined;
    const response = await this.rpc.fetch({
      vmId: this.vmId,
      port,
      method: request.method,
      path: `${url.pathname}${url.search}`,
      headers: [...request.headers.entries()].map(([name, value]) => ({ name, value })),
      body,
    });
    const nullBody = response.status === 204 || response.status === 304 || request.method === "HEAD";
    return new Response(nullBody ? null : response.body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers.map((h) => [h.name, h.value] as [string, string]),
    });
  }

  // ── Shells ─────────────────────────────────────────────────────────────

  async openShell(options: OpenShellOptions = {}): Promise<{ shellId: string }> {
    const { shellId } = await this.rpc.openShell({
      vmId: this.vmId,
      cols: options.cols,
      rows: options.rows,
      env: options.env ?? {},
      cwd: options.cwd ?? "",
      command: options.command ?? "",
      args: options.args ?? [],
    });
    return { shellId };
  }

  async writeShell(shellId: string, data: string | Uint8Array): Promise<void> {
    await this.rpc.writeShell({ vmId: this.vmId, shellId, data: bytes(data) });
  }

  /** Terminal output: what was held while nobody listened, then live. */
  onShellData(shellId: string, handler: (data: Uint8Array, info: OutputInfo) => void, options?: SubscriptionOptions): () => void {
    return this.rpc.onShellData(
      { vmId: this.vmId, shellId },
      (item) => handler(owned(item.data), { droppedBytes: item.droppedBytes }),
      ended(options),
    );
  }

  async resizeShell(shellId: string, cols: number, rows: number): Promise<void> {
    await this.rpc.resizeShell({ vmId: this.vmId, shellId, cols, rows });
  }

  async closeShell(shellId: string): Promise<void> {
    await this.rpc.closeShell({ vmId: this.vmId, shellId });
  }
}

/** A subscription's end: errors go to onError, or become a process warning rather than vanish. */
function ended(options: SubscriptionOptions | undefined): (error?: Error) => void {
  return (error) => {
    if (!error) return;
    if (options?.onError) options.onError(error);
    else process.emitWarning(error.message, "AgentOsSubscriptionWarning");
  };
}

function processInfo(p: WireProcessInfo): ProcessInfo {
  return { ...p, status: p.status as ProcessInfo["status"], exitCode: p.exitCode ?? null, exitTime: p.exitTime ?? null };
}

function treeNode(node: WireTreeNode): ProcessTreeNode {
  return { ...processInfo(node.process as WireProcessInfo), children: node.children.map(treeNode) };
}
