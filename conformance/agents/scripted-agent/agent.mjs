// A scripted ACP agent for the conformance suite. No dependencies: it runs
// inside the VM with `node` and speaks JSON-RPC 2.0 over newline-delimited
// JSON on stdin/stdout. What a prompt does is given by its text (see
// README.md). Everything it writes on stdout is protocol; diagnostics go to
// stderr.

const PROTOCOL_VERSION = 1;

const MODES = [
  { id: "default", name: "Default" },
  { id: "plan", name: "Plan" },
];

const PERMISSION_OPTIONS = [
  { optionId: "allow_once", name: "Allow once", kind: "allow_once" },
  { optionId: "allow_always", name: "Always allow", kind: "allow_always" },
  { optionId: "reject_once", name: "Reject", kind: "reject_once" },
];

/** The session this process serves (one adapter process per session). */
const session = {
  id: "",
  cwd: "",
  mcpServers: [],
  modeId: "default",
  model: "small",
  thoughtLevel: "low",
  /** The prompt waiting for session/cancel ("wait"), as { id }. */
  waiting: undefined,
  /** The running prompt was cancelled. */
  cancelled: false,
};

function configOptions() {
  return [
    {
      id: "model",
      name: "Model",
      category: "model",
      type: "select",
      currentValue: session.model,
      options: [
        { value: "small", name: "Small" },
        { value: "large", name: "Large" },
      ],
    },
    {
      id: "thought_level",
      name: "Thought level",
      category: "thought_level",
      type: "select",
      currentValue: session.thoughtLevel,
      options: [
        { value: "low", name: "Low" },
        { value: "medium", name: "Medium" },
        { value: "high", name: "High" },
      ],
    },
  ];
}

// --- wire -------------------------------------------------------------------

function send(message) {
  process.stdout.write(`${JSON.stringify({ jsonrpc: "2.0", ...message })}\n`);
}

const reply = (id, result) => send({ id, result });
const replyError = (id, code, message, data) => send({ id, error: data === undefined ? { code, message } : { code, message, data } });
const notify = (method, params) => send({ method, params });

/** Requests this agent sent to the client, by id. */
const outgoing = new Map();
let nextRequestId = 1;

/** Calls a client method; resolves with { result } or { error }. */
function request(method, params) {
  const id = nextRequestId++;
  return new Promise((resolve) => {
    outgoing.set(id, resolve);
    send({ id, method, params });
  });
}

function update(update) {
  notify("session/update", { sessionId: session.id, update });
}

function say(text) {
  update({ sessionUpdate: "agent_message_chunk", content: { type: "text", text } });
}

let buffered = "";
process.stdin.on("data", (chunk) => {
  buffered += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
  let newline = buffered.indexOf("\n");
  while (newline >= 0) {
    const line = buffered.slice(0, newline).trim();
    buffered = buffered.slice(newline + 1);
    if (line) receive(line);
    newline = buffered.indexOf("\n");
  }
});
process.stdin.on("end", () => {
  process.stderr.write("scripted-agent: stdin closed\n");
});

function receive(line) {
  let message;
  try {
    message = JSON.parse(line);
  } catch {
    send({ id: null, error: { code: -32700, message: "Parse error" } });
    return;
  }
  if (message.method === undefined) {
    // A response to one of our requests.
    const resolve = outgoing.get(message.id);
    if (resolve) {
      outgoing.delete(message.id);
      resolve(message);
    }
    return;
  }
  const handler = handlers[message.method];
  if (message.id === undefined || message.id === null) {
    // A notification: never answered.
    if (handler) handler(message.params ?? {}, undefined);
    return;
  }
  if (!handler) {
    replyError(message.id, -32601, `Method not found: ${message.method}`);
    return;
  }
  Promise.resolve()
    .then(() => handler(message.params ?? {}, message.id))
    .then(
      (result) => {
        if (result !== undefined) reply(message.id, result);
      },
      (error) => replyError(message.id, error.code ?? -32603, error.message ?? String(error)),
    );
}

class RpcError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// --- agent methods ----------------------------------------------------------

const handlers = {
  initialize(params) {
    if (params.protocolVersion !== PROTOCOL_VERSION) {
      process.stderr.write(`scripted-agent: client speaks protocol ${params.protocolVersion}\n`);
    }
    session.clientCapabilities = params.clientCapabilities ?? {};
    const agentCapabilities = { loadSession: false };
    // With SCRIPTED_CLOSE_FILE the agent supports session/close (see below).
    if (process.env.SCRIPTED_CLOSE_FILE) agentCapabilities.sessionCapabilities = { close: {} };
    return {
      protocolVersion: PROTOCOL_VERSION,
      agentInfo: { name: "scripted", version: "1.0.0" },
      agentCapabilities,
      authMethods: [],
    };
  },

  "session/new"(params) {
    if (session.id) throw new RpcError(-32600, "this agent serves one session per process");
    // One adapter process per session, and every process of a VM has pid 1
    // inside it: a random number keeps the ids of a VM's sessions apart.
    session.id = process.env.SCRIPTED_SESSION_ID || `scripted-${Math.floor(Math.random() * 1e12)}`;
    session.cwd = params.cwd ?? "";
    session.mcpServers = params.mcpServers ?? [];
    const created = { sessionId: session.id, modes: { currentModeId: session.modeId, availableModes: MODES } };
    // With SCRIPTED_NO_CONFIG_OPTIONS the agent offers no config options.
    if (!process.env.SCRIPTED_NO_CONFIG_OPTIONS) created.configOptions = configOptions();
    return created;
  },

  "session/set_mode"(params) {
    checkSession(params);
    if (!MODES.some((m) => m.id === params.modeId)) throw new RpcError(-32602, `unknown mode "${params.modeId}"`);
    session.modeId = params.modeId;
    return {};
  },

  "session/set_config_option"(params) {
    checkSession(params);
    const option = configOptions().find((o) => o.id === params.configId);
    if (!option) throw new RpcError(-32602, `unknown config option "${params.configId}"`);
    if (!option.options.some((o) => o.value === params.value)) {
      throw new RpcError(-32602, `"${params.value}" is not a value of ${params.configId}`);
    }
    if (option.id === "model") session.model = params.value;
    else session.thoughtLevel = params.value;
    return { configOptions: configOptions() };
  },

  "session/cancel"(params) {
    if (params.sessionId !== session.id) return;
    session.cancelled = true;
    const waiting = session.waiting;
    if (waiting) {
      session.waiting = undefined;
      reply(waiting.id, { stopReason: "cancelled" });
    }
  },

  "session/prompt"(params, id) {
    checkSession(params);
    session.cancelled = false;
    const text = (params.prompt ?? [])
      .filter((block) => block.type === "text")
      .map((block) => block.text)
      .join("");
    return runScript(text.trim(), id);
  },

  /** Offered with SCRIPTED_CLOSE_FILE: writes that file through the client, then answers. */
  async "session/close"(params) {
    checkSession(params);
    const path = process.env.SCRIPTED_CLOSE_FILE;
    if (!path) throw new RpcError(-32601, "Method not found: session/close");
    await request("fs/write_text_file", { sessionId: session.id, path, content: `closed ${session.id}` });
    return {};
  },

  /** An extension method: answers with its params (for RawSessionSend). */
  "_scripted/echo"(params) {
    return { echoed: params };
  },
};

/**
 * The arguments after the script. The VM's node repeats the script path
 * (argv = [node, script, script, ...args]); plain node does not.
 */
function scriptArgs() {
  let at = 2;
  while (process.argv[at] === process.argv[1]) at++;
  return process.argv.slice(at);
}

function checkSession(params) {
  if (params.sessionId !== session.id) throw new RpcError(-32602, `unknown session "${params.sessionId}"`);
}

const END_TURN = { stopReason: "end_turn" };

/** The prompt scripts. Each resolves with the session/prompt result, or undefined when it answers later. */
async function runScript(text, id) {
  const space = text.indexOf(" ");
  const verb = space < 0 ? text : text.slice(0, space);
  const rest = space < 0 ? "" : text.slice(space + 1);
  switch (verb) {
    case "echo": {
      // One chunk per word, so that the turn text is a concatenation.
      const words = rest.split(/(?<= )/);
      for (const word of words) say(word);
      return END_TURN;
    }
    case "many": {
      const count = Number(rest);
      for (let i = 1; i <= count; i++) say(`${i} `);
      return END_TURN;
    }
    case "write": {
      const at = rest.indexOf(" ");
      const path = at < 0 ? rest : rest.slice(0, at);
      const content = at < 0 ? "" : rest.slice(at + 1);
      const answer = await request("fs/write_text_file", { sessionId: session.id, path, content });
      say(answer.error ? `error: ${answer.error.message}` : `wrote ${path}`);
      return END_TURN;
    }
    case "read": {
      const answer = await request("fs/read_text_file", { sessionId: session.id, path: rest });
      say(answer.error ? `error: ${answer.error.message}` : answer.result.content);
      return END_TURN;
    }
    case "ask": {
      update({
        sessionUpdate: "tool_call",
        toolCallId: "call-1",
        title: rest || "Run the scripted tool",
        kind: "execute",
        status: "pending",
      });
      const answer = await request("session/request_permission", {
        sessionId: session.id,
        toolCall: { toolCallId: "call-1", title: rest || "Run the scripted tool", kind: "execute", status: "pending" },
        options: PERMISSION_OPTIONS,
      });
      if (answer.error) {
        say(`error: ${answer.error.message}`);
        return END_TURN;
      }
      const outcome = answer.result.outcome;
      say(outcome.outcome === "selected" ? `outcome: selected ${outcome.optionId}` : `outcome: ${outcome.outcome}`);
      // A cancelled permission request means the turn was cancelled (ACP).
      return session.cancelled || outcome.outcome === "cancelled" ? { stopReason: "cancelled" } : END_TURN;
    }
    case "terminal": {
      const created = await request("terminal/create", { sessionId: session.id, command: rest });
      if (created.error) {
        say(`error: ${created.error.message}`);
        return END_TURN;
      }
      const terminalId = created.result.terminalId;
      const exit = await request("terminal/wait_for_exit", { sessionId: session.id, terminalId });
      const output = await request("terminal/output", { sessionId: session.id, terminalId });
      await request("terminal/release", { sessionId: session.id, terminalId });
      say(`exit ${exit.result?.exitCode ?? "?"}: ${output.result?.output ?? ""}`);
      return END_TURN;
    }
    case "wait":
      // Answered by session/cancel.
      session.waiting = { id };
      say("waiting");
      return undefined;
    case "crash":
      say("crashing");
      // Outside the stream handler: an exit from inside it can be lost in the VM.
      setTimeout(() => process.exit(17), 10);
      return undefined;
    case "fail":
      throw new RpcError(-32603, `scripted failure${rest ? `: ${rest}` : ""}`);
    case "info":
      say(
        JSON.stringify({
          cwd: session.cwd,
          processCwd: process.cwd(),
          mcpServers: session.mcpServers,
          args: scriptArgs(),
          env: rest ? (process.env[rest] ?? null) : undefined,
          modeId: session.modeId,
          model: session.model,
          thoughtLevel: session.thoughtLevel,
        }),
      );
      return END_TURN;
    default:
      say(`unknown script "${verb}"`);
      return END_TURN;
  }
}
