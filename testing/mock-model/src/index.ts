/**
 * A scripted model server on loopback that speaks the real Anthropic
 * Messages API (streaming included), built on @copilotkit/llmock. Agents in a
 * VM reach it like the real provider: point ANTHROPIC_BASE_URL at `url` and
 * allow `hostPort` in the VM's network policy.
 */
import { LLMock } from "@copilotkit/llmock";

/** One scripted exchange: when the user's latest prompt matches, the model answers like this. */
export interface ScriptedTurn {
  /** Substring or pattern of the user's latest prompt. */
  prompt: string | RegExp;
  /** First the model calls this tool; once the tool result is back it answers `text`. */
  toolCall?: { name: string; input: Record<string, unknown> };
  /** The model's text answer. */
  text: string;
  /** Milliseconds the model takes before it answers. */
  latencyMs?: number;
  /** Only when an earlier message of the conversation contains this (proves context is kept). */
  whenHistoryContains?: string;
}

export interface MockModel {
  /** Base URL for ANTHROPIC_BASE_URL. */
  readonly url: string;
  /** "127.0.0.1:<port>", for the VM's network allowlist. */
  readonly hostPort: string;
  readonly port: number;
  /** Model requests served so far. */
  requests(): number;
  /** The system prompt of every request served so far, oldest first. */
  systemPrompts(): string[];
  /** The content of every tool result the agent sent back, oldest first (repeats across requests). */
  toolResults(): string[];
  stop(): Promise<void>;
}

/** Environment that points the Pi agent at this server. */
export function piEnv(model: MockModel): Record<string, string> {
  return { ANTHROPIC_API_KEY: "mock-key", ANTHROPIC_BASE_URL: model.url };
}

interface ChatMessage {
  role: string;
  content?: unknown;
}

function text(content: unknown): string {
  if (typeof content === "string") return content;
  return JSON.stringify(content ?? "");
}

function lastUserPrompt(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i].role === "user") return text(messages[i].content);
  return "";
}

/** Whether the conversation since the latest user prompt has a tool result. */
function toolResultSincePrompt(messages: ChatMessage[]): boolean {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === "tool") return true;
    if (messages[i].role === "user") return false;
  }
  return false;
}

export async function startMockModel(turns: ScriptedTurn[]): Promise<MockModel> {
  const mock = new LLMock({ port: 0, host: "127.0.0.1" });
  const matches = (turn: ScriptedTurn, messages: ChatMessage[]) => {
    const prompt = lastUserPrompt(messages);
    const hit = typeof turn.prompt === "string" ? prompt.includes(turn.prompt) : turn.prompt.test(prompt);
    if (!hit) return false;
    if (!turn.whenHistoryContains) return true;
    const latest = messages.map((m) => m.role).lastIndexOf("user");
    return messages.slice(0, latest).some((m) => text(m.content).includes(turn.whenHistoryContains as string));
  };
  for (const turn of turns) {
    const latency = turn.latencyMs;
    if (turn.toolCall) {
      const call = turn.toolCall;
      mock.on(
        {
          predicate: (req) => {
            const messages = req.messages as ChatMessage[];
            return matches(turn, messages) && !toolResultSincePrompt(messages);
          },
        },
        { toolCalls: [{ name: call.name, arguments: JSON.stringify(call.input) }] },
        latency ? { latency } : undefined,
      );
    }
    mock.on(
      { predicate: (req) => matches(turn, req.messages as ChatMessage[]) },
      { content: turn.text },
      latency ? { latency } : undefined,
    );
  }
  mock.on({ predicate: () => true }, { content: "(the mock model has no scripted answer for this prompt)" });
  const url = await mock.start();
  const port = Number(new URL(url).port);
  return {
    url,
    port,
    hostPort: `127.0.0.1:${port}`,
    requests: () => mock.journal.size,
    systemPrompts: () =>
      mock.journal.getAll().map((entry) => {
        const messages = ((entry.body as { messages?: ChatMessage[] } | null)?.messages ?? []) as ChatMessage[];
        return messages
          .filter((m) => m.role === "system")
          .map((m) => text(m.content))
          .join("\n");
      }),
    toolResults: () =>
      mock.journal.getAll().flatMap((entry) => {
        const messages = ((entry.body as { messages?: ChatMessage[] } | null)?.messages ?? []) as ChatMessage[];
        return messages.filter((m) => m.role === "tool").map((m) => text(m.content));
      }),
    stop: () => mock.stop(),
  };
}
