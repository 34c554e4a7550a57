/**
 * The Pi coding agent as an ACP agent. Runs INSIDE an agentOS VM over stdio:
 * ACP JSON-RPC (newline-delimited) on stdin/stdout, diagnostics on stderr.
 *
 * Built into one ESM file by scripts/bundle.mjs; see README.md for why.
 */
import { spawn } from "node:child_process";
import * as acp from "@agentclientprotocol/sdk";
import { type Api, getModel, getModels, getProviders, type KnownProvider, type Model } from "@mariozechner/pi-ai";
import {
  type AgentSession,
  type AgentSessionEvent,
  AuthStorage,
  type BashOperations,
  createAgentSession,
  createBashToolDefinition,
  DefaultResourceLoader,
  type ExtensionFactory,
  ModelRegistry,
  SessionManager,
  SettingsManager,
  type ToolDefinition,
  VERSION,
} from "@mariozechner/pi-coding-agent";
import { PERMISSION_MODES, type PermissionMode, permissionNeeded, toolKind } from "./permissions.js";
import { promptText, toolResultText } from "./text.js";

type ThinkingLevel = ReturnType<AgentSession["getAvailableThinkingLevels"]>[number];

const DEFAULT_PROVIDER = "anthropic";
const DEFAULT_MODEL = "claude-sonnet-4-5";
/** How long a prompt waits for a cancelled turn to stop. */
const SETTLE_WAIT_MS = 5_000;

/** `--append-system-prompt <text>`: the OS instructions the sidecar composed. */
function argValue(flag: string): string | undefined {
  const args = process.argv;
  const at = args.lastIndexOf(flag);
  return at >= 0 && at + 1 < args.length ? args[at + 1] : undefined;
}

/** Provider, model and credentials come from the session env; no file is needed. */
function resolveModel(env: NodeJS.ProcessEnv): Model<Api> {
  const provider = (env.PI_PROVIDER || DEFAULT_PROVIDER) as KnownProvider;
  if (!getProviders().includes(provider)) {
    throw acp.RequestError.invalidParams({ provider }, `unknown model provider "${provider}"`);
  }
  const id = env.PI_MODEL || DEFAULT_MODEL;
  const model = getModel(provider, id as never) as Model<Api> | undefined;
  if (!model) {
    throw acp.RequestError.invalidParams({ model: id }, `unknown model "${id}" for provider "${provider}"`);
  }
  const baseUrl = env[`${provider.toUpperCase().replaceAll("-", "_")}_BASE_URL`];
  return baseUrl ? { ...model, baseUrl } : model;
}

function apiKeyFor(provider: string, env: NodeJS.ProcessEnv): string | undefined {
  return env[`${provider.toUpperCase().replaceAll("-", "_")}_API_KEY`] || env.PI_API_KEY;
}

/** Pi's own bash tool cannot spawn inside the VM; this one runs `sh -c` in the VM's shell. */
const vmShell: BashOperations = {
  exec: (command, cwd, { onData, signal, timeout, env }) =>
    new Promise((resolve, reject) => {
      const child = spawn("sh", ["-c", command], { cwd, env: { ...process.env, ...env } });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const kill = () => child.kill("SIGKILL");
      if (timeout && timeout > 0) timer = setTimeout(kill, timeout * 1000);
      signal?.addEventListener("abort", kill, { once: true });
      child.stdout?.on("data", (d: Buffer) => onData(d));
      child.stderr?.on("data", (d: Buffer) => onData(d));
      child.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on("close", (code: number | null) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", kill);
        resolve({ exitCode: signal?.aborted ? null : code });
      });
    }),
};

interface PiSession {
  id: string;
  cwd: string;
  pi: AgentSession;
  mode: PermissionMode;
  /** Tool kinds the user allowed for the rest of the session ("always"). */
  alwaysAllowed: Set<string>;
  turn?: { cancelled: boolean; cancel: () => void };
  /** Settles when Pi's latest run has ended (after a cancel it may outlive the turn). */
  settling: Promise<void>;
  /** Notifications are sent in order; the prompt answer waits for them. */
  sent: Promise<void>;
  toolCalls: Set<string>;
}

const sessions = new Map<string, PiSession>();
const instructions = argValue("--append-system-prompt");

function configOptions(session: PiSession): acp.SessionConfigOption[] {
  const pi = session.pi;
  const model = pi.model;
  const options: acp.SessionConfigOption[] = [
    {
      id: "mode",
      name: "Permission mode",
      category: "mode",
      type: "select",
      currentValue: session.mode,
      options: PERMISSION_MODES.map((m) => ({ value: m.id, name: m.name, description: m.description })),
    },
  ];
  if (model) {
    options.push({
      id: "model",
      name: "Model",
      category: "model",
      type: "select",
      currentValue: model.id,
      options: getModels(model.provider as KnownProvider).map((m) => ({ value: m.id, name: m.name })),
    });
  }
  options.push({
    id: "thought_level",
    name: "Thinking level",
    category: "thought_level",
    type: "select",
    currentValue: pi.thinkingLevel,
    options: pi.getAvailableThinkingLevels().map((level) => ({ value: level, name: level })),
  });
  return options;
}

function modeState(session: PiSession): acp.SessionModeState {
  return {
    currentModeId: session.mode,
    availableModes: PERMISSION_MODES.map((m) => ({ id: m.id, name: m.name, description: m.description })),
  };
}

function requireSession(sessionId: string): PiSession {
  const session = sessions.get(sessionId);
  if (!session) throw acp.RequestError.resourceNotFound(sessionId);
  return session;
}

/** Asks the client before tools that write or execute, as the session's mode says. */
function permissionGate(session: () => PiSession, client: () => acp.AgentContext): ExtensionFactory {
  return (pi) => {
    pi.on("tool_call", async (event) => {
      const s = session();
      const kind = toolKind(event.toolName);
      const decision = permissionNeeded(s.mode, kind, s.alwaysAllowed);
      if (decision === "allow") return undefined;
      if (decision === "deny") {
        return { block: true, reason: `"${event.toolName}" is not allowed in ${s.mode} mode` };
      }
      const input = event.input as Record<string, unknown>;
      const answer = await client().request(acp.methods.client.session.requestPermission, {
        sessionId: s.id,
        toolCall: {
          toolCallId: event.toolCallId,
          title: toolTitle(event.toolName, input),
          kind,
          status: "pending",
          rawInput: input,
          locations: locations(s.cwd, input),
        },
        options: [
          { optionId: "allow_once", name: "Allow once", kind: "allow_once" },
          { optionId: "allow_always", name: "Always allow", kind: "allow_always" },
          { optionId: "reject_once", name: "Reject", kind: "reject_once" },
        ],
      });
      const outcome = answer.outcome;
      if (outcome.outcome === "selected" && outcome.optionId.startsWith("allow")) {
        if (outcome.optionId === "allow_always") s.alwaysAllowed.add(kind);
        return undefined;
      }
      return { block: true, reason: "The user rejected this tool call." };
    });
  };
}

function toolTitle(toolName: string, input: Record<string, unknown>): string {
  if (toolName === "bash" && typeof input.command === "string") return input.command;
  if (typeof input.path === "string") return `${toolName} ${input.path}`;
  return toolName;
}

function locations(cwd: string, input: unknown): acp.ToolCallLocation[] | undefined {
  const path = (input as { path?: unknown } | undefined)?.path;
  if (typeof path !== "string") return undefined;
  return [{ path: path.startsWith("/") ? path : `${cwd.replace(/\/$/, "")}/${path}` }];
}

function emit(session: PiSession, connection: acp.AgentContext, update: acp.SessionUpdate): void {
  session.sent = session.sent
    .then(() => connection.notify(acp.methods.client.session.update, { sessionId: session.id, update }))
    .catch((error: unknown) => console.error(`[pi] cannot send session/update: ${String(error)}`));
}

/** Pi's events, translated to ACP session updates. */
function translate(session: PiSession, connection: acp.AgentContext, event: AgentSessionEvent): void {
  switch (event.type) {
    case "message_update": {
      const e = event.assistantMessageEvent;
      if (e.type === "text_delta") {
        emit(session, connection, { sessionUpdate: "agent_message_chunk", content: { type: "text", text: e.delta } });
      } else if (e.type === "thinking_delta") {
        emit(session, connection, { sessionUpdate: "agent_thought_chunk", content: { type: "text", text: e.delta } });
      } else if (e.type === "toolcall_end") {
        const call = e.toolCall;
        if (session.toolCalls.has(call.id)) break;
        session.toolCalls.add(call.id);
        const input = call.arguments as Record<string, unknown>;
        emit(session, connection, {
          sessionUpdate: "tool_call",
          toolCallId: call.id,
          title: toolTitle(call.name, input),
          kind: toolKind(call.name),
          status: "pending",
          rawInput: input,
          locations: locations(session.cwd, input),
        });
      }
      break;
    }
    case "tool_execution_start": {
      const input = event.args as Record<string, unknown>;
      if (!session.toolCalls.has(event.toolCallId)) {
        session.toolCalls.add(event.toolCallId);
        emit(session, connection, {
          sessionUpdate: "tool_call",
          toolCallId: event.toolCallId,
          title: toolTitle(event.toolName, input),
          kind: toolKind(event.toolName),
          status: "in_progress",
          rawInput: input,
          locations: locations(session.cwd, input),
        });
      } else {
        emit(session, connection, { sessionUpdate: "tool_call_update", toolCallId: event.toolCallId, status: "in_progress" });
      }
      break;
    }
    case "tool_execution_update": {
      const text = toolResultText(event.partialResult);
      emit(session, connection, {
        sessionUpdate: "tool_call_update",
        toolCallId: event.toolCallId,
        status: "in_progress",
        content: text ? [{ type: "content", content: { type: "text", text } }] : undefined,
      });
      break;
    }
    case "tool_execution_end": {
      const text = toolResultText(event.result);
      emit(session, connection, {
        sessionUpdate: "tool_call_update",
        toolCallId: event.toolCallId,
        status: event.isError ? "failed" : "completed",
        content: text ? [{ type: "content", content: { type: "text", text } }] : undefined,
        rawOutput: event.result,
      });
      break;
    }
    case "thinking_level_changed":
      emit(session, connection, { sessionUpdate: "config_option_update", configOptions: configOptions(session) });
      break;
  }
}

/** The stop reason of the turn, from the last assistant message Pi recorded. */
function stopReasonOf(session: PiSession): acp.StopReason {
  if (session.turn?.cancelled) return "cancelled";
  const last = [...session.pi.messages].reverse().find((m) => (m as { role?: string }).role === "assistant") as
    | { stopReason?: string; errorMessage?: string }
    | undefined;
  switch (last?.stopReason) {
    case "aborted":
      return "cancelled";
    case "length":
      return "max_tokens";
    case "error":
      throw acp.RequestError.internalError({ stopReason: "error" }, `model error: ${last.errorMessage ?? "unknown"}`);
    default:
      return "end_turn";
  }
}

let client: acp.AgentContext | undefined;

const app = acp
  .agent({ name: "pi" })
  .onRequest(acp.methods.agent.initialize, () => ({
    protocolVersion: acp.PROTOCOL_VERSION,
    agentInfo: { name: "pi", title: "Pi coding agent (agentOS)", version: VERSION },
    agentCapabilities: {
      loadSession: false,
      promptCapabilities: { image: false, audio: false, embeddedContext: true },
      mcpCapabilities: { http: false, sse: false },
    },
    authMethods: [],
  }))
  .onRequest(acp.methods.agent.session.new, async ({ params, client: connection }) => {
    client = connection;
    const env = process.env;
    const model = resolveModel(env);
    const authStorage = AuthStorage.inMemory();
    const key = apiKeyFor(model.provider, env);
    if (key) authStorage.setRuntimeApiKey(model.provider, key);
    const modelRegistry = ModelRegistry.inMemory(authStorage);
    const settingsManager = SettingsManager.inMemory({});
    const agentDir = `${env.HOME || "/home/user"}/.pi/agent`;
    const holder: { session?: PiSession } = {};
    const resourceLoader = new DefaultResourceLoader({
      cwd: params.cwd,
      agentDir,
      settingsManager,
      noExtensions: true,
      noThemes: true,
      extensionFactories: [
        permissionGate(
          () => holder.session as PiSession,
          () => client as acp.AgentContext,
        ),
      ],
      ...(instructions ? { appendSystemPrompt: [instructions] } : {}),
    });
    await resourceLoader.reload();
    const { session: pi } = await createAgentSession({
      cwd: params.cwd,
      agentDir,
      authStorage,
      modelRegistry,
      model,
      settingsManager,
      resourceLoader,
      sessionManager: SessionManager.inMemory(params.cwd),
      // Same name as Pi's built-in bash tool, so it replaces it.
      customTools: [createBashToolDefinition(params.cwd, { operations: vmShell }) as unknown as ToolDefinition],
    });
    const mode = (PERMISSION_MODES.find((m) => m.id === env.AGENTOS_PERMISSION_MODE)?.id ?? "default") as PermissionMode;
    const session: PiSession = {
      id: pi.sessionId,
      cwd: params.cwd,
      pi,
      mode,
      alwaysAllowed: new Set(),
      sent: Promise.resolve(),
      settling: Promise.resolve(),
      toolCalls: new Set(),
    };
    holder.session = session;
    sessions.set(session.id, session);
    pi.subscribe((event) => translate(session, connection, event));
    return { sessionId: session.id, modes: modeState(session), configOptions: configOptions(session) };
  })
  .onRequest(acp.methods.agent.session.prompt, async ({ params, client: connection }) => {
    client = connection;
    const session = requireSession(params.sessionId);
    if (session.turn) throw acp.RequestError.invalidRequest({}, "a prompt is already running in this session");
    // A cancelled turn may still be winding down: the VM's fetch cannot be
    // aborted, so Pi stops only once the model's answer is in (if then).
    const settled = await Promise.race([
      session.settling.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), SETTLE_WAIT_MS)),
    ]);
    if (!settled) {
      throw acp.RequestError.internalError(
        {},
        "the cancelled turn has not stopped yet (the VM cannot abort a model request in flight); start a new session",
      );
    }
    let cancel!: () => void;
    const cancelled = new Promise<"cancelled">((resolve) => {
      cancel = () => resolve("cancelled");
    });
    const turn = { cancelled: false, cancel };
    session.turn = turn;
    session.toolCalls.clear();
    const run = session.pi.prompt(promptText(params.prompt));
    session.settling = run.then(
      () => {},
      () => {},
    );
    try {
      const outcome = await Promise.race([run.then(() => "done" as const), cancelled]);
      await session.sent;
      if (outcome === "cancelled") return { stopReason: "cancelled" as const };
      return { stopReason: stopReasonOf(session) };
    } catch (error) {
      await session.sent;
      if (turn.cancelled) return { stopReason: "cancelled" as const };
      throw error;
    } finally {
      session.turn = undefined;
    }
  })
  .onNotification(acp.methods.agent.session.cancel, ({ params }) => {
    const session = sessions.get(params.sessionId);
    if (!session?.turn) return;
    session.turn.cancelled = true;
    session.turn.cancel();
    void session.pi.abort().catch(() => {});
  })
  .onRequest(acp.methods.agent.session.setMode, async ({ params, client: connection }) => {
    const session = requireSession(params.sessionId);
    const mode = PERMISSION_MODES.find((m) => m.id === params.modeId);
    if (!mode) throw acp.RequestError.invalidParams({ modeId: params.modeId }, `unknown mode "${params.modeId}"`);
    session.mode = mode.id;
    emit(session, connection, { sessionUpdate: "current_mode_update", currentModeId: mode.id });
    await session.sent;
    return {};
  })
  .onRequest(acp.methods.agent.session.setConfigOption, async ({ params, client: connection }) => {
    const session = requireSession(params.sessionId);
    const value = String(params.value);
    switch (params.configId) {
      case "mode": {
        const mode = PERMISSION_MODES.find((m) => m.id === value);
        if (!mode) throw acp.RequestError.invalidParams({ value }, `unknown mode "${value}"`);
        session.mode = mode.id;
        break;
      }
      case "model": {
        const current = session.pi.model;
        const provider = (current?.provider ?? DEFAULT_PROVIDER) as KnownProvider;
        const next = getModel(provider, value as never) as Model<Api> | undefined;
        if (!next) throw acp.RequestError.invalidParams({ value }, `unknown model "${value}"`);
        await session.pi.setModel(current?.baseUrl ? { ...next, baseUrl: current.baseUrl } : next);
        break;
      }
      case "thought_level": {
        if (!session.pi.getAvailableThinkingLevels().includes(value as ThinkingLevel)) {
          throw acp.RequestError.invalidParams({ value }, `unknown thinking level "${value}"`);
        }
        session.pi.setThinkingLevel(value as ThinkingLevel);
        break;
      }
      default:
        throw acp.RequestError.invalidParams({ configId: params.configId }, `unknown config option "${params.configId}"`);
    }
    const options = configOptions(session);
    emit(session, connection, { sessionUpdate: "config_option_update", configOptions: options });
    await session.sent;
    return { configOptions: options };
  })
  .onRequest(acp.methods.agent.session.close, async ({ params }) => {
    const session = sessions.get(params.sessionId);
    if (session) {
      if (session.turn) {
        session.turn.cancelled = true;
        session.turn.cancel();
        void session.pi.abort().catch(() => {});
      }
      session.pi.dispose();
      sessions.delete(params.sessionId);
    }
    return {};
  });

function stdio(): acp.Stream {
  const input = new ReadableStream<Uint8Array>({
    start(controller) {
      process.stdin.on("data", (chunk: Buffer | string) =>
        controller.enqueue(typeof chunk === "string" ? new TextEncoder().encode(chunk) : new Uint8Array(chunk)),
      );
      process.stdin.on("end", () => controller.close());
    },
  });
  const output = new WritableStream<Uint8Array>({
    write(chunk) {
      return new Promise<void>((resolve) => {
        process.stdout.write(chunk, () => resolve());
      });
    },
  });
  return acp.ndJsonStream(output, input);
}

const connection = app.connect(stdio());
void connection.closed.then(() => {
  for (const session of sessions.values()) session.pi.dispose();
  // process.exit() from a stream handler loses its code inside the VM; the
  // sidecar ends this process when it closes the session.
  process.exitCode = 0;
});
