import type { CallToolResponse, ToolKit as WireToolKit } from "@agentos/proto";
import { prettifyError, toJSONSchema, type ZodType } from "zod";
import { AgentOsError } from "./agent-os-error.js";

/** Longest toolkit or tool description (characters), as in @rivet-dev/agent-os-core 0.1.1. */
export const MAX_TOOL_DESCRIPTION_LENGTH = 200;

/** A tool that runs on the host when guest code (or an agent) calls it. */
// biome-ignore lint/suspicious/noExplicitAny: as in 0.1.1, so a Record<string, HostTool> holds tools of any input type.
export interface HostTool<INPUT = any, OUTPUT = any> {
  /** Shown in `--help` and in the agents' instructions. At most 200 characters. */
  description: string;
  /** A zod object schema of the input: its fields become the command's flags; calls are validated against it. */
  inputSchema: ZodType<INPUT>;
  /** Runs on the host; its result is printed as JSON in the VM. */
  execute: (input: INPUT) => Promise<OUTPUT> | OUTPUT;
  examples?: ToolExample<INPUT>[];
  /** Milliseconds before the call fails in the VM (exit 124). Default 30 000. */
  timeout?: number;
}

// biome-ignore lint/suspicious/noExplicitAny: see HostTool.
export interface ToolExample<INPUT = any> {
  description: string;
  input: INPUT;
}

/** A named group of tools: the command `agentos-<name>` in the VM. */
export interface ToolKit {
  /** Lower-case letters, digits and "-". */
  name: string;
  description: string;
  /** Keys are the tools' names (the first argument of the command). */
  tools: Record<string, HostTool>;
}

/**
 * Defines a host tool. The input schema is converted to JSON Schema here,
 * so a schema the VM cannot express fails now, naming the field.
 */
export function hostTool<INPUT, OUTPUT>(def: HostTool<INPUT, OUTPUT>): HostTool<INPUT, OUTPUT> {
  inputJsonSchema(def.inputSchema, "inputSchema");
  return def;
}

/** Defines a toolkit; checks names, descriptions and every tool's schema. */
export function toolKit(def: ToolKit): ToolKit {
  toWireToolKit(def);
  return def;
}

/** A toolkit in its wire form (CreateVmConfig.tool_kits). */
export function toWireToolKit(kit: ToolKit): WireToolKit {
  const where = `toolKit "${kit?.name}"`;
  if (typeof kit?.name !== "string" || !/^[a-z0-9][a-z0-9-]*$/.test(kit.name)) {
    throw invalid(`${where}: the name must be lower-case letters, digits and "-" (it becomes the command agentos-<name>)`);
  }
  checkDescription(kit.description, where);
  if (!kit.tools || typeof kit.tools !== "object") throw invalid(`${where}: tools must be an object of hostTool()s`);
  return {
    name: kit.name,
    description: kit.description ?? "",
    tools: Object.entries(kit.tools).map(([name, tool]) => {
      const at = `${where}, tool "${name}"`;
      if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name)) throw invalid(`${at}: a tool name is letters, digits, "-" and "_"`);
      checkDescription(tool.description, at);
      if (typeof tool.execute !== "function") throw invalid(`${at}: execute must be a function`);
      if (tool.timeout !== undefined && !(Number.isSafeInteger(tool.timeout) && tool.timeout > 0)) {
        throw invalid(`${at}: timeout must be a positive number of milliseconds`);
      }
      return {
        name,
        description: tool.description,
        inputSchemaJson: JSON.stringify(inputJsonSchema(tool.inputSchema, `${at}: inputSchema`)),
        examples: (tool.examples ?? []).map((example) => ({
          description: example.description ?? "",
          inputJson: JSON.stringify(example.input ?? {}),
        })),
        timeoutMs: tool.timeout,
      };
    }),
  };
}

/** Runs a call from the VM: validate with the tool's own schema, then execute. */
export async function runHostTool(tool: HostTool | undefined, inputJson: string): Promise<CallToolResponse> {
  if (!tool) return { outcome: { $case: "error", value: "this client has no such tool (was the VM created by another client?)" } };
  let raw: unknown;
  try {
    raw = JSON.parse(inputJson || "{}");
  } catch (error) {
    return { outcome: { $case: "invalidInput", value: `the input is not JSON: ${(error as Error).message}` } };
  }
  const parsed = tool.inputSchema.safeParse(raw);
  if (!parsed.success) return { outcome: { $case: "invalidInput", value: prettifyError(parsed.error) } };
  try {
    const result = await tool.execute(parsed.data);
    return { outcome: { $case: "resultJson", value: JSON.stringify(result === undefined ? null : result) } };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { outcome: { $case: "error", value: message || "the tool failed" } };
  }
}

function checkDescription(description: unknown, where: string): void {
  if (typeof description !== "string") throw invalid(`${where}: description must be a string`);
  if (description.length > MAX_TOOL_DESCRIPTION_LENGTH) {
    throw invalid(`${where}: description is ${description.length} characters, at most ${MAX_TOOL_DESCRIPTION_LENGTH}`);
  }
}

function invalid(message: string): AgentOsError {
  return new AgentOsError("INVALID_ARGUMENT", message);
}

type ZodDef = {
  type: string;
  shape?: Record<string, ZodType>;
  element?: ZodType;
  innerType?: ZodType;
  options?: ZodType[];
  valueType?: ZodType;
  items?: ZodType[];
  in?: ZodType;
  out?: ZodType;
};

function defOf(schema: unknown): ZodDef | undefined {
  return (schema as { _zod?: { def?: ZodDef } })?._zod?.def;
}

/** Schemas already converted (hostTool(), toolKit() and AgentOs.create() each need it). */
const converted = new WeakMap<ZodType, Record<string, unknown>>();

/**
 * The JSON Schema of a tool's input. Anything JSON Schema cannot express
 * (dates, functions, maps, custom checks, ...) is refused with the path of
 * the field, never silently dropped.
 */
export function inputJsonSchema(schema: ZodType, where: string): Record<string, unknown> {
  const def = defOf(schema);
  if (!def) throw invalid(`${where} must be a zod (v4) schema`);
  if (def.type !== "object") throw invalid(`${where} must be z.object({...}) (its fields become the command's flags); got z.${def.type}()`);
  const known = converted.get(schema);
  if (known) return known;
  try {
    const json = toJSONSchema(schema, { unrepresentable: "throw", io: "input", cycles: "throw" }) as Record<string, unknown>;
    converted.set(schema, json);
    return json;
  } catch (error) {
    const found = unrepresentable(schema, []) ?? { path: [], message: (error as Error).message };
    const at = found.path.length > 0 ? `field "${found.path.join(".")}"` : "the schema";
    throw invalid(`${where}: ${at} cannot be expressed as JSON Schema (${found.message}); use plain JSON types`);
  }
}

/** The deepest field whose schema does not convert. */
function unrepresentable(schema: ZodType, path: string[]): { path: string[]; message: string } | undefined {
  let failure: string | undefined;
  try {
    toJSONSchema(schema, { unrepresentable: "throw", io: "input", cycles: "throw" });
    return undefined;
  } catch (error) {
    failure = (error as Error).message;
  }
  const def = defOf(schema);
  const children: [string[], ZodType][] = [];
  if (def?.type === "object") for (const [key, child] of Object.entries(def.shape ?? {})) children.push([[...path, key], child]);
  else if (def?.type === "array" && def.element) children.push([[...path, "[]"], def.element]);
  else if (def?.type === "record" && def.valueType) children.push([[...path, "*"], def.valueType]);
  else if (def?.type === "tuple") for (const [i, item] of (def.items ?? []).entries()) children.push([[...path, String(i)], item]);
  else if ((def?.type === "union" || def?.type === "intersection") && def.options)
    for (const option of def.options) children.push([path, option]);
  else if (def?.innerType) children.push([path, def.innerType]);
  else if (def?.type === "pipe" && def.in) children.push([path, def.in]);
  for (const [childPath, child] of children) {
    const found = unrepresentable(child, childPath);
    if (found) return found;
  }
  return { path, message: failure };
}
