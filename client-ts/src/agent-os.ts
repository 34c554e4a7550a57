import type { ProcessInfo as WireProcessInfo, ProcessTreeNode as WireTreeNode } from "@agentos/proto";
import { AgentOsError } from "./agent-os-error.js";
import { toCreateVmConfig } from "./create-config.js";
import type { SidecarForwarders } from "./generated/forwarders.js";
import { SidecarConnection } from "./sidecar-connection.js";
import type {
  AgentCapabilities,
  AgentInfo,
  AgentOsOptions,
  AgentRegistryEntry,
  BatchReadResult,
  BatchWriteEntry,
  BatchWriteResult,
  CreateSessionOptions,
  DirEntry,
  ExecOptions,
  ExecResult,
  GetEventsOptions,
  JsonRpcNotification,
  JsonRpcResponse,
  Limits,
  MountPlugin,
  OpenShellOptions,
  OutputInfo,
  PermissionReply,
  PermissionRequestHandler,
  ProcessInfo,
  ProcessTreeNode,
  PromptResult,
  ReaddirRecursiveOptions,
  SequencedEvent,
  SessionConfigOption,
  SessionEventHandler,
  SessionInfo,
  SessionModeState,
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
      connection.registerToolKits(vmId, options.toolKits ?? []);
      return new AgentOs(connection, vmId, {
        memoryMiB: limits?.memoryMib,
        cpuTimeMs: limits?.cpuTimeMs,
        execTimeoutMs: limits?.execTimeoutMs,
        maxProcesses: limits?.maxProcesses,
        maxOpenFiles: limits?.maxOpenFiles,
        maxSockets: limits?.maxSockets,
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
      this.connection.forgetToolKits(this.vmId);
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

  // ── Agent sessions (ACP) ───────────────────────────────────────────────

  /** The agents this VM's software offers. */
  async listAgents(): Promise<AgentRegistryEntry[]> {
    return (await this.rpc.listAgents({ vmId: this.vmId })).agents;
  }

  /**
   * Starts an agent inside the VM and an ACP session with it (initialize +
   * session/new, OS instructions included unless skipped). Resolves once the
   * agent is ready for prompts.
   */
  async createSession(agentType: string, options: CreateSessionOptions = {}): Promise<{ sessionId: string }> {
    return this.rpc.createSession({
      vmId: this.vmId,
      agentType,
      cwd: options.cwd ?? "",
      env: options.env ?? {},
      mcpServersJson: JSON.stringify(options.mcpServers ?? []),
      skipOsInstructions: options.skipOsInstructions ?? false,
      additionalInstructions: options.additionalInstructions ?? "",
      permissionDefault: options.permissionDefault ?? "",
      permissionTimeoutMs: options.permissionTimeoutMs,
      promptTimeoutMs: options.promptTimeoutMs,
    });
  }

  /**
   * Sends a prompt and resolves when the turn ends. Updates arrive through
   * onSessionEvent meanwhile; permission requests through onPermissionRequest.
   */
  async prompt(sessionId: string, text: string): Promise<PromptResult> {
    const result = await this.rpc.prompt({ vmId: this.vmId, sessionId, text });
    return { response: JSON.parse(result.responseJson) as JsonRpcResponse, text: result.text };
  }

  /** session/cancel: the running prompt ends with stopReason "cancelled". */
  async cancelSession(sessionId: string): Promise<JsonRpcResponse> {
    return response(await this.rpc.cancelSession({ vmId: this.vmId, sessionId }));
  }

  /** Ends the agent process at once; a running prompt fails with CANCELLED. */
  async closeSession(sessionId: string): Promise<void> {
    await this.rpc.closeSession({ vmId: this.vmId, sessionId });
  }

  /** Cancels a running prompt, lets the agent close the session, then ends it. */
  async destroySession(sessionId: string): Promise<void> {
    await this.rpc.destroySession({ vmId: this.vmId, sessionId });
  }

  /** Checks that the session exists and is live. */
  async resumeSession(sessionId: string): Promise<{ sessionId: string }> {
    return this.rpc.resumeSession({ vmId: this.vmId, sessionId });
  }

  async listSessions(): Promise<SessionInfo[]> {
    return (await this.rpc.listSessions({ vmId: this.vmId })).sessions;
  }

  /** The session/update notifications recorded so far, oldest first. */
  async getSessionEvents(sessionId: string, options: GetEventsOptions = {}): Promise<SequencedEvent[]> {
    const { events } = await this.rpc.getSessionEvents({
      vmId: this.vmId,
      sessionId,
      since: options.since,
      method: options.method ?? "",
    });
    return events.map((e) => ({ sequenceNumber: e.sequenceNumber, notification: JSON.parse(e.notificationJson) }));
  }

  /** Calls `handler` with each session/update from now on, until unsubscribed or the session ends. */
  onSessionEvent(sessionId: string, handler: SessionEventHandler, options?: SubscriptionOptions): () => void {
    return this.rpc.onSessionEvent(
      { vmId: this.vmId, sessionId },
      (item) => handler(JSON.parse(item.notificationJson) as JsonRpcNotification),
      ended(options),
    );
  }

  /**
   * Calls `handler` when the agent asks permission; answer with
   * respondPermission. Without a handler the session's default reply
   * ("reject" unless configured) is given at once.
   */
  onPermissionRequest(sessionId: string, handler: PermissionRequestHandler): () => void {
    return this.connection.onPermissionRequest(this.vmId, sessionId, handler);
  }

  async respondPermission(sessionId: string, permissionId: string, reply: PermissionReply): Promise<JsonRpcResponse> {
    return response(await this.rpc.respondPermission({ vmId: this.vmId, sessionId, permissionId, reply }));
  }

  async setSessionMode(sessionId: string, modeId: string): Promise<JsonRpcResponse> {
    return response(await this.rpc.setSessionMode({ vmId: this.vmId, sessionId, modeId }));
  }

  async getSessionModes(sessionId: string): Promise<SessionModeState | null> {
    return json(await this.rpc.getSessionModes({ vmId: this.vmId, sessionId }));
  }

  async setSessionModel(sessionId: string, model: string): Promise<JsonRpcResponse> {
    return response(await this.rpc.setSessionModel({ vmId: this.vmId, sessionId, model }));
  }

  async setSessionThoughtLevel(sessionId: string, level: string): Promise<JsonRpcResponse> {
    return response(await this.rpc.setSessionThoughtLevel({ vmId: this.vmId, sessionId, level }));
  }

  async getSessionConfigOptions(sessionId: string): Promise<SessionConfigOption[]> {
    return json(await this.rpc.getSessionConfigOptions({ vmId: this.vmId, sessionId })) ?? [];
  }

  async getSessionCapabilities(sessionId: string): Promise<AgentCapabilities | null> {
    return json(await this.rpc.getSessionCapabilities({ vmId: this.vmId, sessionId }));
  }

  async getSessionAgentInfo(sessionId: string): Promise<AgentInfo | null> {
    return json(await this.rpc.getSessionAgentInfo({ vmId: this.vmId, sessionId }));
  }

  /** Any ACP request to the session's agent; resolves with its JSON-RPC response, errors included. */
  async rawSessionSend(sessionId: string, method: string, params?: Record<string, unknown>): Promise<JsonRpcResponse> {
    return response(
      await this.rpc.rawSessionSend({
        vmId: this.vmId,
        sessionId,
        method,
        paramsJson: params === undefined ? "" : JSON.stringify(params),
      }),
    );
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

function response(answer: { responseJson: string }): JsonRpcResponse {
  return JSON.parse(answer.responseJson) as JsonRpcResponse;
}

function json<T>(answer: { json: string }): T | null {
  return JSON.parse(answer.json) as T | null;
}

function processInfo(p: WireProcessInfo): ProcessInfo {
  return { ...p, status: p.status as ProcessInfo["status"], exitCode: p.exitCode ?? null, exitTime: p.exitTime ?? null };
}

function treeNode(node: WireTreeNode): ProcessTreeNode {
  return { ...processInfo(node.process as WireProcessInfo), children: node.children.map(treeNode) };
}
