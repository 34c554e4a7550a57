import { posix } from "node:path";
import { parseArgs } from "node:util";
import type { ToolKit } from "@agentos/proto";
import type { DriverProcess, KernelRuntimeDriver, ProcessContext } from "@secure-exec/core";
import { invalidArgument } from "../errors.js";
import type { PermissionPolicyEngine } from "./permissions.js";

/** Per-call time limit of a host tool unless it sets its own. */
export const DEFAULT_TOOL_TIMEOUT_MS = 30_000;

/** What the client answered for one tool call (ClientService.CallTool). */
export type ToolOutcome = { ok: true; resultJson: string } | { ok: false; invalidInput: string } | { ok: false; error: string };

/** Runs a tool on the host: the sidecar asks the VM's client. Rejects as soon as `signal` aborts. */
export type CallTool = (toolkit: string, tool: string, inputJson: string, options: { signal: AbortSignal }) => Promise<ToolOutcome>;

interface JsonSchema {
  type?: string | string[];
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  default?: unknown;
  anyOf?: JsonSchema[];
}

interface ToolSpec {
  name: string;
  description: string;
  schema: JsonSchema;
  /** Flags the command takes, by property name; the rest only via --json. */
  flags: Map<string, FlagKind>;
  examples: { description: string; input: unknown }[];
  timeoutMs: number;
}

type FlagKind = "string" | "number" | "integer" | "boolean" | "string[]" | "number[]" | "integer[]";

interface KitSpec {
  name: string;
  description: string;
  tools: Map<string, ToolSpec>;
}

const KIT_NAME = /^[a-z0-9][a-z0-9-]*$/;
const TOOL_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/** Input property `fullPage` is the flag `--full-page`. */
export function flagName(property: string): string {
  return property.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}

/** Exit statuses of tool commands. */
export const TOOL_EXIT = { ok: 0, failed: 1, usage: 2, denied: 126, timeout: 124 } as const;

/**
 * The host toolkits of a VM: each is the command `agentos-<kit>` inside the
 * VM, and `agentos list-tools` lists them. A call runs no guest code: this
 * driver parses the flags, checks the tool scope of the policy, and asks
 * the client to run the tool's execute function.
 */
export class HostTools {
  private readonly kits = new Map<string, KitSpec>();

  constructor(
    toolKits: ToolKit[],
    private readonly permissions: PermissionPolicyEngine,
    private readonly callTool: CallTool | undefined,
  ) {
    for (const [i, kit] of toolKits.entries()) {
      const where = `toolKits[${i}]`;
      if (!KIT_NAME.test(kit.name)) {
        throw invalidArgument(
          `${where}.name "${kit.name}" must be lower-case letters, digits and "-" (it becomes the command agentos-${kit.name})`,
        );
      }
      if (this.kits.has(kit.name)) throw invalidArgument(`${where}.name "${kit.name}" is given twice`);
      const tools = new Map<string, ToolSpec>();
      for (const [j, tool] of kit.tools.entries()) {
        const at = `${where}.tools[${j}]`;
        if (!TOOL_NAME.test(tool.name)) throw invalidArgument(`${at}.name "${tool.name}" must be letters, digits, "-" and "_"`);
        if (tools.has(tool.name)) throw invalidArgument(`${at}.name "${tool.name}" is given twice in toolkit ${kit.name}`);
        tools.set(tool.name, toolSpec(tool.name, tool, at));
      }
      this.kits.set(kit.name, { name: kit.name, description: kit.description, tools });
    }
  }

  get empty(): boolean {
    return this.kits.size === 0;
  }

  /** The commands this VM gets: `agentos` and one per toolkit. */
  get commands(): string[] {
    return ["agentos", ...[...this.kits.keys()].map((name) => `agentos-${name}`)];
  }

  /** The section of the agents' instructions that describes the tools. */
  reference(): string {
    if (this.kits.size === 0) return "";
    const lines = [
      "## Host tools",
      "The VM's owner gave you these tools. Run them from the shell; each prints its result as JSON on stdout",
      "and exits non-zero with a message on stderr when it fails. `agentos-<toolkit> <tool> --help` explains a tool;",
      "`--json '<object>'` passes the whole input at once. `agentos list-tools` lists them all.",
    ];
    for (const kit of this.kits.values()) {
      lines.push("", `### agentos-${kit.name}${kit.description ? ` — ${kit.description}` : ""}`);
      for (const tool of kit.tools.values())
        lines.push(`- \`${usageLine(kit.name, tool)}\`${tool.description ? ` — ${tool.description}` : ""}`);
    }
    return `${lines.join("\n")}\n`;
  }

  /** The runtime driver to mount in the VM's kernel. */
  driver(): KernelRuntimeDriver {
    return {
      name: "agentos-host-tools",
      commands: this.commands,
      init: async () => {},
      dispose: async () => {},
      spawn: (command, args, context) => new ToolProcess(context, (out) => this.run(command, args, out)),
    };
  }

  private async run(path: string, args: string[], out: Output): Promise<number> {
    // The shell passes the path it found on PATH (/usr/local/bin/agentos-x).
    const command = posix.basename(path);
    if (command === "agentos") return this.runAgentos(args, out);
    const kit = this.kits.get(command.slice("agentos-".length));
    if (!kit) {
      out.err(`${command}: no such toolkit\n`);
      return TOOL_EXIT.usage;
    }
    const [toolName, ...rest] = args;
    if (!toolName || toolName === "--help" || toolName === "-h" || toolName === "help") {
      out.out(kitHelp(kit));
      return toolName ? TOOL_EXIT.ok : TOOL_EXIT.usage;
    }
    const tool = kit.tools.get(toolName);
    if (!tool) {
      out.err(`agentos-${kit.name}: no tool "${toolName}"; tools: ${[...kit.tools.keys()].join(", ")}\n`);
      return TOOL_EXIT.usage;
    }
    if (rest.includes("--help") || rest.includes("-h")) {
      out.out(toolHelp(kit.name, tool));
      return TOOL_EXIT.ok;
    }
    let input: Record<string, unknown>;
    try {
      input = parseInput(tool, rest);
    } catch (error) {
      out.err(`agentos-${kit.name} ${tool.name}: ${(error as Error).message}\n(see agentos-${kit.name} ${tool.name} --help)\n`);
      return TOOL_EXIT.usage;
    }
    const decision = this.permissions.decideTool(kit.name, tool.name);
    if (!decision.allow) {
      out.err(`agentos-${kit.name} ${tool.name}: permission denied: ${decision.reason}\n`);
      return TOOL_EXIT.denied;
    }
    if (!this.callTool) {
      out.err(`agentos-${kit.name} ${tool.name}: no client is connected to run host tools\n`);
      return TOOL_EXIT.failed;
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), tool.timeoutMs);
    out.onKill(() => controller.abort());
    try {
      const outcome = await this.callTool(kit.name, tool.name, JSON.stringify(input), { signal: controller.signal });
      if (outcome.ok) {
        out.out(`${outcome.resultJson}\n`);
        return TOOL_EXIT.ok;
      }
      if ("invalidInput" in outcome) {
        out.err(`agentos-${kit.name} ${tool.name}: invalid input:\n${outcome.invalidInput}\n`);
        return TOOL_EXIT.usage;
      }
      out.err(`agentos-${kit.name} ${tool.name}: ${outcome.error}\n`);
      return TOOL_EXIT.failed;
    } catch (error) {
      if (controller.signal.aborted && !out.killed) {
        out.err(`agentos-${kit.name} ${tool.name}: timed out after ${tool.timeoutMs} ms\n`);
        return TOOL_EXIT.timeout;
      }
      if (out.killed) return TOOL_EXIT.failed;
      out.err(`agentos-${kit.name} ${tool.name}: ${(error as Error).message}\n`);
      return TOOL_EXIT.failed;
    } finally {
      clearTimeout(timer);
    }
  }

  private runAgentos(args: string[], out: Output): number {
    const [sub, ...rest] = args;
    if (sub === "list-tools") {
      if (rest.includes("--json")) {
        const listing = [...this.kits.values()].map((kit) => ({
          toolkit: kit.name,
          command: `agentos-${kit.name}`,
          description: kit.description,
          tools: [...kit.tools.values()].map((t) => ({ name: t.name, description: t.description, inputSchema: t.schema })),
        }));
        out.out(`${JSON.stringify(listing, null, 2)}\n`);
        return TOOL_EXIT.ok;
      }
      if (this.kits.size === 0) {
        out.out("No host tools are configured for this VM.\n");
        return TOOL_EXIT.ok;
      }
      for (const kit of this.kits.values()) {
        out.out(`agentos-${kit.name}${kit.description ? `  ${kit.description}` : ""}\n`);
        for (const tool of kit.tools.values()) out.out(`  ${tool.name.padEnd(20)} ${tool.description}\n`);
      }
      return TOOL_EXIT.ok;
    }
    const usage = "usage: agentos list-tools [--json]\n";
    if (sub === "--help" || sub === "-h" || sub === "help") {
      out.out(usage);
      return TOOL_EXIT.ok;
    }
    out.err(sub ? `agentos: unknown command "${sub}"\n${usage}` : usage);
    return TOOL_EXIT.usage;
  }
}

function toolSpec(name: string, tool: ToolKit["tools"][number], where: string): ToolSpec {
  let schema: JsonSchema;
  try {
    schema = JSON.parse(tool.inputSchemaJson || "{}");
  } catch (error) {
    throw invalidArgument(`${where}.inputSchemaJson is not JSON: ${(error as Error).message}`);
  }
  if (schema.type !== "object") throw invalidArgument(`${where}: the input schema must describe an object (its properties become flags)`);
  const flags = new Map<string, FlagKind>();
  for (const [prop, sub] of Object.entries(schema.properties ?? {})) {
    const kind = flagKind(sub);
    if (kind) flags.set(prop, kind);
  }
  const examples = tool.examples.map((example, i) => {
    try {
      return { description: example.description, input: JSON.parse(example.inputJson) };
    } catch (error) {
      throw invalidArgument(`${where}.examples[${i}].inputJson is not JSON: ${(error as Error).message}`);
    }
  });
  const timeoutMs = tool.timeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw invalidArgument(`${where}.timeoutMs must be a positive integer`);
  return { name, description: tool.description, schema, flags, examples, timeoutMs };
}

function scalarType(schema: JsonSchema): "string" | "number" | "integer" | "boolean" | undefined {
  const type = Array.isArray(schema.type) ? schema.type.filter((t) => t !== "null") : [schema.type];
  if (type.length === 1 && (type[0] === "string" || type[0] === "number" || type[0] === "integer" || type[0] === "boolean")) return type[0];
  if (schema.type === undefined && schema.enum?.every((v) => typeof v === "string")) return "string";
  if (schema.anyOf) {
    const kinds = new Set(schema.anyOf.map(scalarType));
    kinds.delete(undefined);
    if (kinds.size === 1) return [...kinds][0];
  }
  return undefined;
}

function flagKind(schema: JsonSchema): FlagKind | undefined {
  const scalar = scalarType(schema);
  if (scalar) return scalar;
  if (schema.type === "array" && schema.items) {
    const item = scalarType(schema.items);
    if (item === "string" || item === "number" || item === "integer") return `${item}[]`;
  }
  return undefined;
}

/** The tool's input from its flags (`--name value`, `--flag`, `--no-flag`, `--json '{...}'`). */
export function parseInput(tool: ToolSpec, args: string[]): Record<string, unknown> {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = { json: { type: "string" } };
  for (const [name, kind] of tool.flags) {
    options[flagName(name)] = { type: kind === "boolean" ? "boolean" : "string", multiple: kind.endsWith("[]") };
  }
  const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true, allowNegative: true });
  if (positionals.length > 0) throw new Error(`unexpected argument "${positionals[0]}"`);
  let input: Record<string, unknown> = {};
  if (values.json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(values.json as string);
    } catch (error) {
      throw new Error(`--json is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("--json must be a JSON object");
    input = parsed as Record<string, unknown>;
  }
  for (const [name, kind] of tool.flags) {
    const value = values[flagName(name)];
    if (value === undefined) continue;
    if (kind === "boolean" || kind === "string") input[name] = value;
    else if (kind === "string[]") input[name] = value;
    else if (kind.endsWith("[]")) input[name] = (value as string[]).map((v) => toNumber(name, v, kind));
    else input[name] = toNumber(name, value as string, kind);
  }
  const missing = (tool.schema.required ?? []).filter((name) => input[name] === undefined);
  if (missing.length > 0) {
    throw new Error(
      `missing ${missing.map((name) => (tool.flags.has(name) ? `--${flagName(name)}` : `"${name}" (in --json)`)).join(", ")}`,
    );
  }
  return input;
}

function toNumber(name: string, raw: string, kind: FlagKind): number {
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(value)) throw new Error(`--${flagName(name)} expects a number, got "${raw}"`);
  if (kind.startsWith("integer") && !Number.isInteger(value)) throw new Error(`--${flagName(name)} expects an integer, got "${raw}"`);
  return value;
}

function usageLine(kit: string, tool: ToolSpec): string {
  const required = new Set(tool.schema.required ?? []);
  const parts = [`agentos-${kit} ${tool.name}`];
  for (const [name, kind] of tool.flags) {
    const flag =
      kind === "boolean" ? `--${flagName(name)}` : `--${flagName(name)} <${kind.replace("[]", "")}>${kind.endsWith("[]") ? "..." : ""}`;
    parts.push(required.has(name) ? flag : `[${flag}]`);
  }
  const jsonOnly = Object.keys(tool.schema.properties ?? {}).filter((name) => !tool.flags.has(name));
  if (jsonOnly.length > 0) parts.push(`[--json '{${jsonOnly.map((n) => `"${n}": ...`).join(", ")}}']`);
  return parts.join(" ");
}

function toolHelp(kit: string, tool: ToolSpec): string {
  const lines = [`usage: ${usageLine(kit, tool)}`, ""];
  if (tool.description) lines.push(tool.description, "");
  const required = new Set(tool.schema.required ?? []);
  const properties = Object.entries(tool.schema.properties ?? {});
  if (properties.length > 0) {
    lines.push("options:");
    for (const [name, schema] of properties) {
      const kind = tool.flags.get(name);
      const label = kind ? `--${flagName(name)}${kind === "boolean" ? "" : ` <${kind}>`}` : `${name} (only in --json)`;
      const notes = [schema.description ?? "", required.has(name) ? "(required)" : ""];
      if (schema.enum) notes.push(`one of: ${schema.enum.map((v) => JSON.stringify(v)).join(", ")}`);
      if (schema.default !== undefined) notes.push(`default: ${JSON.stringify(schema.default)}`);
      lines.push(`  ${label.padEnd(28)} ${notes.filter(Boolean).join(" ")}`);
    }
  }
  lines.push(`  ${"--json <object>".padEnd(28)} the whole input as a JSON object (flags override its fields)`);
  if (tool.examples.length > 0) {
    lines.push("", "examples:");
    for (const example of tool.examples) {
      if (example.description) lines.push(`  # ${example.description}`);
      lines.push(`  agentos-${kit} ${tool.name} --json '${JSON.stringify(example.input)}'`);
    }
  }
  lines.push("", "Prints the result as JSON on stdout.");
  return `${lines.join("\n")}\n`;
}

function kitHelp(kit: KitSpec): string {
  const lines = [`usage: agentos-${kit.name} <tool> [options]   (agentos-${kit.name} <tool> --help for a tool's options)`];
  if (kit.description) lines.push("", kit.description);
  lines.push("", "tools:");
  for (const tool of kit.tools.values()) lines.push(`  ${tool.name.padEnd(20)} ${tool.description}`);
  return `${lines.join("\n")}\n`;
}

interface Output {
  out(text: string): void;
  err(text: string): void;
  onKill(listener: () => void): void;
  readonly killed: boolean;
}

/** A tool command as a kernel process: output through the kernel, exit when the call ends. */
class ToolProcess implements DriverProcess {
  onStdout: ((data: Uint8Array) => void) | null = null;
  onStderr: ((data: Uint8Array) => void) | null = null;
  onExit: ((code: number) => void) | null = null;
  private readonly exited: Promise<number>;
  private settle!: (code: number) => void;
  private done = false;
  private killed = false;
  private readonly killListeners: (() => void)[] = [];

  constructor(context: ProcessContext, run: (out: Output) => Promise<number>) {
    this.exited = new Promise((resolve) => {
      this.settle = resolve;
    });
    const encoder = new TextEncoder();
    const self = this;
    const output: Output = {
      out: (text) => {
        if (this.done) return;
        const data = encoder.encode(text);
        context.onStdout?.(data);
        this.onStdout?.(data);
      },
      err: (text) => {
        if (this.done) return;
        const data = encoder.encode(text);
        context.onStderr?.(data);
        this.onStderr?.(data);
      },
      onKill: (listener) => this.killListeners.push(listener),
      get killed() {
        return self.killed;
      },
    };
    // Start after the kernel has wired the output callbacks.
    queueMicrotask(() => {
      run(output).then(
        (code) => this.finish(code),
        (error) => {
          output.err(`${(error as Error).message}\n`);
          this.finish(TOOL_EXIT.failed);
        },
      );
    });
  }

  writeStdin(): void {}

  closeStdin(): void {}

  kill(signal: number): void {
    if (this.done) return;
    this.killed = true;
    for (const listener of this.killListeners) listener();
    this.finish(128 + signal);
  }

  wait(): Promise<number> {
    return this.exited;
  }

  private finish(code: number): void {
    if (this.done) return;
    this.done = true;
    this.settle(code);
    this.onExit?.(code);
  }
}
