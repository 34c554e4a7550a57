import * as acp from "@agentclientprotocol/sdk";
import { RpcError } from "@agentos/proto";
import type { Vm } from "../vm/vm.js";
import type { AgentProcess } from "./agent-process.js";
import { EventLog } from "./event-log.js";
import { type PermissionReply, PermissionRequests } from "./permissions.js";
import { Terminals } from "./terminals.js";

/** A JSON-RPC response, as AgentOs 0.1.1 returned them. */
export interface JsonRpcResponse {
  jsonrpc: "2.0";
  id: number;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

export interface SessionTimeouts {
  /** initialize + session/new. */
  startMs: number;
  /** Any request other than a prompt. */
  requestMs: number;
  promptMs: number;
  permissionMs: number;
}

export interface SessionHooks {
  /**
   * Offers a permission request to the client's handlers. Resolves false when
   * none is registered (or the client cannot be asked).
   */
  offerPermission(sessionId: string, permissionId: string, params: unknown, description: string): Promise<boolean>;
  /** The adapter exited or the session was closed. */
  onEnded(session: AgentSession): void;
  log(message: string): void;
}

export interface AgentSessionOptions {
  vm: Vm;
  agentType: string;
  process: AgentProcess;
  cwd: string;
  mcpServers: acp.McpServer[];
  permissionDefault: PermissionReply;
  timeouts: SessionTimeouts;
  hooks: SessionHooks;
}

/**
 * One ACP session: the sidecar is the ACP client of an adapter process
 * running in the VM. Records every session/update, serves fs/* and terminal/*
 * against the VM, and routes permission requests to the user.
 */
export class AgentSession {
  readonly events = new EventLog();
  readonly vm: Vm;
  readonly agentType: string;
  sessionId = "";
  capabilities: acp.AgentCapabilities | null = null;
  agentInfo: acp.Implementation | null = null;
  modes: acp.SessionModeState | null = null;
  configOptions: acp.SessionConfigOption[] = [];

  private readonly process: AgentProcess;
  private readonly connection: acp.ClientConnection;
  private readonly permissions: PermissionRequests;
  private readonly terminals: Terminals;
  private readonly timeouts: SessionTimeouts;
  private readonly hooks: SessionHooks;
  private nextResponseId = 0;
  private ended: RpcError | undefined;
  private readonly endListeners = new Set<(error: RpcError) => void>();
  /** Text of agent_message_chunk updates while a prompt runs. */
  private turnText: string[] | undefined;
  private promptRunning = false;

  private constructor(options: AgentSessionOptions) {
    this.vm = options.vm;
    this.agentType = options.agentType;
    this.process = options.process;
    this.timeouts = options.timeouts;
    this.hooks = options.hooks;
    this.terminals = new Terminals(options.vm, options.cwd);
    this.permissions = new PermissionRequests(options.permissionDefault, options.timeouts.permissionMs);
    this.connection = acp
      .client({ name: "agentos-sidecar" })
      .onNotification(acp.methods.client.session.update, ({ params }) => this.record(params))
      .onRequest(acp.methods.client.session.requestPermission, ({ params, signal }) => this.requestPermission(params, signal))
      .onRequest(acp.methods.client.fs.readTextFile, ({ params }) => this.readTextFile(params))
      .onRequest(acp.methods.client.fs.writeTextFile, ({ params }) => this.writeTextFile(params))
      .onRequest(acp.methods.client.terminal.create, ({ params }) => this.terminals.create(params))
      .onRequest(acp.methods.client.terminal.output, ({ params }) => this.terminals.output(params.terminalId))
      .onRequest(acp.methods.client.terminal.waitForExit, ({ params, signal }) => this.terminals.waitForExit(params.terminalId, signal))
      .onRequest(acp.methods.client.terminal.kill, ({ params }) => this.terminals.kill(params.terminalId))
      .onRequest(acp.methods.client.terminal.release, ({ params }) => this.terminals.release(params.terminalId))
      .connect(options.process.stream);
    void this.process.exited.then((code) => {
      const tail = this.process.stderrTail();
      this.end(new RpcError("AGENT_ERROR", `the ${this.agentType} agent exited (code ${code})${tail ? `: ${lastLines(tail)}` : ""}`));
    });
    void this.connection.closed.then(() =>
      this.end(new RpcError("AGENT_ERROR", `the ACP connection to the ${this.agentType} agent closed`)),
    );
  }

  /** Starts the session: initialize, then session/new. Ends the adapter if either fails. */
  static async start(options: AgentSessionOptions): Promise<AgentSession> {
    const session = new AgentSession(options);
    try {
      await session
        .call("initialize", options.timeouts.startMs, () =>
          session.connection.agent.request(acp.methods.agent.initialize, {
            protocolVersion: acp.PROTOCOL_VERSION,
            clientCapabilities: { fs: { readTextFile: true, writeTextFile: true }, terminal: true },
            clientInfo: { name: "agentos", version: "0.1.0" },
          }),
        )
        .then((init) => {
          session.capabilities = init.agentCapabilities ?? {};
          session.agentInfo = init.agentInfo ?? null;
        });
      const created = await session.call("session/new", options.timeouts.startMs, () =>
        session.connection.agent.request(acp.methods.agent.session.new, {
          cwd: options.cwd,
          mcpServers: options.mcpServers,
        }),
      );
      if (typeof created.sessionId !== "string" || !created.sessionId) {
        throw new RpcError("AGENT_ERROR", `the ${options.agentType} agent answered session/new without a sessionId`);
      }
      session.sessionId = created.sessionId;
      session.modes = created.modes ?? null;
      session.configOptions = created.configOptions ?? [];
      return session;
    } catch (error) {
      session.close(error instanceof RpcError ? error : undefined);
      throw error;
    }
  }

  get live(): boolean {
    return this.ended === undefined;
  }

  get adapterPid(): number {
    return this.process.pid;
  }

  /** session/prompt; resolves with the JSON-RPC response and the turn's message text. */
  async prompt(text: string): Promise<{ response: JsonRpcResponse; text: string }> {
    this.assertLive();
    if (this.promptRunning) {
      throw new RpcError("FAILED_PRECONDITION", `session ${this.sessionId} is already running a prompt`);
    }
    this.promptRunning = true;
    const turnText: string[] = [];
    this.turnText = turnText;
    try {
      const result = await this.call(
        "session/prompt",
        this.timeouts.promptMs,
        () =>
          this.connection.agent.request(acp.methods.agent.session.prompt, {
            sessionId: this.sessionId,
            prompt: [{ type: "text", text }],
          }),
        () => void this.cancel().catch(() => {}),
      );
      return { response: this.response(result), text: turnText.join("") };
    } finally {
      this.promptRunning = false;
      if (this.turnText === turnText) this.turnText = undefined;
    }
  }

  /** session/cancel. Pending permission requests are answered "cancelled", as ACP asks. */
  async cancel(): Promise<JsonRpcResponse> {
    this.assertLive();
    this.permissions.cancelAll();
    await this.connection.agent.notify(acp.methods.agent.session.cancel, { sessionId: this.sessionId });
    return this.response(null);
  }

  async setMode(modeId: string): Promise<JsonRpcResponse> {
    const result = await this.request(acp.methods.agent.session.setMode, { sessionId: this.sessionId, modeId });
    if (this.modes) this.modes = { ...this.modes, currentModeId: modeId };
    return this.response(result);
  }

  /** session/set_config_option on the option of a category ("model", "thought_level"). */
  async setConfigByCategory(category: string, value: string): Promise<JsonRpcResponse> {
    const option = this.configOptions.find((o) => o.category === category || o.id === category);
    if (!option) {
      throw new RpcError("FAILED_PRECONDITION", `the ${this.agentType} agent offers no "${category}" option (see getSessionConfigOptions)`);
    }
    const result = await this.request(acp.methods.agent.session.setConfigOption, {
      sessionId: this.sessionId,
      configId: option.id,
      value,
    });
    if (Array.isArray(result?.configOptions)) this.configOptions = result.configOptions;
    return this.response(result);
  }

  /** Any request, answered with the agent's JSON-RPC response (an error response included). */
  async rawSend(method: string, params: unknown): Promise<JsonRpcResponse> {
    this.assertLive();
    try {
      const result = await this.call(method, this.timeouts.requestMs, () =>
        this.connection.agent.request<unknown, unknown>(method, params ?? {}),
      );
      return this.response(result);
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause;
      if (cause instanceof acp.RequestError) {
        return { jsonrpc: "2.0", id: ++this.nextResponseId, error: { code: cause.code, message: cause.message, data: cause.data } };
      }
      throw error;
    }
  }

  respondPermission(permissionId: string, reply: PermissionReply): JsonRpcResponse {
    this.assertLive();
    this.permissions.respond(permissionId, reply);
    return this.response(null);
  }

  /**
   * Cancels a running prompt and asks the agent to close the session (when it
   * can), then ends the adapter.
   */
  async destroy(): Promise<void> {
    if (!this.live) return;
    try {
      if (this.promptRunning) await this.cancel();
      if (this.capabilities?.sessionCapabilities?.close !== undefined) {
        await this.call("session/close", this.timeouts.requestMs, () =>
          this.connection.agent.request(acp.methods.agent.session.close, { sessionId: this.sessionId }),
        );
      }
    } catch (error) {
      this.hooks.log(`session ${this.sessionId}: graceful close failed: ${(error as Error).message}`);
    } finally {
      this.close();
    }
  }

  /** Ends the adapter at once; a running prompt fails with CANCELLED. */
  close(reason?: RpcError): void {
    this.end(reason ?? new RpcError("CANCELLED", `session ${this.sessionId || "(starting)"} was closed`));
  }

  /** Called once with the reason the session ended. */
  onEnd(listener: (error: RpcError) => void): () => void {
    if (this.ended) {
      listener(this.ended);
      return () => {};
    }
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  private end(reason: RpcError): void {
    if (this.ended) return;
    this.ended = reason;
    this.permissions.cancelAll();
    this.terminals.releaseAll();
    this.process.kill();
    this.connection.close(reason);
    for (const listener of this.endListeners) listener(reason);
    this.endListeners.clear();
    this.hooks.onEnded(this);
  }

  private assertLive(): void {
    if (this.ended) {
      throw new RpcError(this.ended.code === "CANCELLED" ? "NOT_FOUND" : this.ended.code, this.ended.message);
    }
  }

  private async request<M extends acp.AgentRequestMethod>(
    method: M,
    params: acp.AgentRequestParamsByMethod[M],
  ): Promise<acp.AgentRequestResponsesByMethod[M]> {
    this.assertLive();
    return this.call(method, this.timeouts.requestMs, () => this.connection.agent.request(method, params));
  }

  /**
   * One request to the agent, bounded by `timeoutMs`, and failing with the
   * reason as soon as the session ends.
   */
  private call<T>(method: string, timeoutMs: number, send: () => Promise<T>, onTimeout?: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        stop();
        onTimeout?.();
        reject(new RpcError("TIMEOUT", `the ${this.agentType} agent did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      const unsubscribe = this.onEnd((reason) => {
        stop();
        reject(reason.code === "CANCELLED" ? new RpcError("CANCELLED", `${reason.message} while ${method} was running`) : reason);
      });
      const stop = () => {
        clearTimeout(timer);
        unsubscribe();
      };
      send().then(
        (value) => {
          stop();
          resolve(value);
        },
        (error: unknown) => {
          stop();
          reject(this.agentError(method, error));
        },
      );
    });
  }

  private agentError(method: string, error: unknown): RpcError {
    if (error instanceof RpcError) return error;
    if (this.ended) return this.ended;
    if (error instanceof acp.RequestError) {
      return new RpcError("AGENT_ERROR", `the ${this.agentType} agent failed ${method}: ${error.message} (${error.code})`, {
        cause: error,
      });
    }
    return new RpcError("AGENT_ERROR", `${method} to the ${this.agentType} agent failed: ${(error as Error)?.message ?? error}`, {
      cause: error,
    });
  }

  private response(result: unknown): JsonRpcResponse {
    return { jsonrpc: "2.0", id: ++this.nextResponseId, result: result ?? null };
  }

  private record(params: acp.SessionNotification): void {
    const update = params.update;
    if (update.sessionUpdate === "agent_message_chunk" && update.content.type === "text") {
      this.turnText?.push(update.content.text);
    } else if (update.sessionUpdate === "current_mode_update" && this.modes) {
      this.modes = { ...this.modes, currentModeId: update.currentModeId };
    } else if (update.sessionUpdate === "config_option_update") {
      this.configOptions = update.configOptions;
    }
    this.events.append({ jsonrpc: "2.0", method: acp.methods.client.session.update, params });
  }

  private async requestPermission(params: acp.RequestPermissionRequest, signal: AbortSignal): Promise<acp.RequestPermissionResponse> {
    const { id, reply } = this.permissions.open(signal);
    const description = params.toolCall.title ?? params.toolCall.kind ?? "a tool call";
    // The client answers whether a handler took it; the reply itself comes
    // through respondPermission, the default, the timeout or a cancel.
    this.hooks.offerPermission(this.sessionId, id, params, description).then(
      (handled) => {
        if (!handled) this.permissions.applyDefault(id);
      },
      (error: unknown) => {
        this.hooks.log(`session ${this.sessionId}: cannot offer permission request ${id}: ${(error as Error).message}`);
        this.permissions.applyDefault(id);
      },
    );
    const answer = await reply;
    if (answer === "cancelled") return { outcome: { outcome: "cancelled" } };
    const option = pickOption(params.options, answer);
    return option ? { outcome: { outcome: "selected", optionId: option.optionId } } : { outcome: { outcome: "cancelled" } };
  }

  private async readTextFile(params: acp.ReadTextFileRequest): Promise<acp.ReadTextFileResponse> {
    const content = new TextDecoder().decode(await this.vm.fs.readFile(params.path));
    if (params.line == null && params.limit == null) return { content };
    const lines = content.split("\n");
    const start = Math.max(0, (params.line ?? 1) - 1);
    const end = params.limit == null ? lines.length : start + params.limit;
    return { content: lines.slice(start, end).join("\n") };
  }

  private async writeTextFile(params: acp.WriteTextFileRequest): Promise<acp.WriteTextFileResponse> {
    await this.vm.fs.writeFile(params.path, new TextEncoder().encode(params.content));
    return {};
  }
}

/** The option of the kind the reply asks for, falling back to its sibling kind. */
function pickOption(options: acp.PermissionOption[], reply: PermissionReply): acp.PermissionOption | undefined {
  const kinds: acp.PermissionOptionKind[] =
    reply === "once"
      ? ["allow_once", "allow_always"]
      : reply === "always"
        ? ["allow_always", "allow_once"]
        : ["reject_once", "reject_always"];
  for (const kind of kinds) {
    const option = options.find((o) => o.kind === kind);
    if (option) return option;
  }
  return undefined;
}

function lastLines(text: string, count = 5): string {
  return text.split("\n").slice(-count).join("\n");
}
