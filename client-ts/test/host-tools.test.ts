/**
 * Host toolkits end to end: a zod-typed tool defined here runs on the host
 * when a guest command, a Node script in the VM or the Pi agent calls it.
 */
import pi from "@agentos/agent-pi";
import { type MockModel, piEnv, startMockModel } from "@agentos/mock-model";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { AgentOs, hostTool, toolKit } from "../src/index.js";

const calls: unknown[] = [];
const math = toolKit({
  name: "math",
  description: "Arithmetic on the host",
  tools: {
    add: hostTool({
      description: "Adds two numbers",
      inputSchema: z.object({
        a: z.number().describe("first addend"),
        b: z.number().min(0).describe("second addend, not negative"),
        roundDown: z.boolean().optional(),
        labels: z.array(z.string()).optional(),
        meta: z.object({ note: z.string() }).optional(),
      }),
      examples: [{ description: "two and three", input: { a: 2, b: 3 } }],
      execute: (input) => {
        calls.push(input);
        const sum = input.a + input.b;
        return { sum: input.roundDown ? Math.floor(sum) : sum, labels: input.labels ?? [], note: input.meta?.note ?? null };
      },
    }),
    fail: hostTool({
      description: "Always throws",
      inputSchema: z.object({}),
      execute: () => {
        throw new Error("the host said no");
      },
    }),
    slow: hostTool({
      description: "Takes longer than its timeout",
      inputSchema: z.object({}),
      timeout: 300,
      execute: () => new Promise((resolve) => setTimeout(() => resolve("late"), 3000)),
    }),
    danger: hostTool({ description: "Denied by the tool scope", inputSchema: z.object({}), execute: () => "ran" }),
  },
});

let vm: AgentOs;
let model: MockModel;

beforeAll(async () => {
  model = await startMockModel([
    {
      prompt: "add twenty and twenty-two",
      toolCall: { name: "bash", input: { command: "agentos-math add --a 20 --b 22" } },
      text: "The sum is 42.",
    },
  ]);
  vm = await AgentOs.create({
    software: [pi],
    toolKits: [math],
    permissions: {
      network: [{ effect: "allow", pattern: model.hostPort }],
      tool: [{ effect: "deny", pattern: "math/danger" }],
    },
  });
});

afterAll(async () => {
  await vm?.dispose();
  await model?.stop();
});

describe("defining tools", () => {
  it("refuses a schema JSON Schema cannot express at definition time, naming the field", () => {
    const define = (inputSchema: z.ZodType) => () => hostTool({ description: "x", inputSchema, execute: () => null });
    expect(define(z.object({ when: z.date() }))).toThrow(/field "when" cannot be expressed as JSON Schema/);
    expect(define(z.object({ outer: z.object({ inner: z.array(z.map(z.string(), z.number())) }) }))).toThrow(
      /field "outer\.inner\.\[\]" cannot be expressed/,
    );
    expect(define(z.string())).toThrow(/must be z\.object/);
    expect(() => toolKit({ name: "Bad_Name", description: "", tools: {} })).toThrow(/lower-case letters/);
    expect(() => toolKit({ name: "ok", description: "x".repeat(201), tools: {} })).toThrow(/at most 200/);
  });
});

describe("calling host tools from the VM", () => {
  it("runs a tool from a shell command and prints its JSON result", async () => {
    calls.length = 0;
    const result = await vm.exec("agentos-math add --a 2 --b 3.5 --round-down --labels x --labels y");
    expect(result).toMatchObject({ exitCode: 0, stdout: '{"sum":5,"labels":["x","y"],"note":null}\n' });
    expect(calls).toEqual([{ a: 2, b: 3.5, roundDown: true, labels: ["x", "y"] }]);
    const json = await vm.exec(`agentos-math add --json '{"a":1,"b":2,"meta":{"note":"hi"}}' | cat`);
    expect(json).toMatchObject({ exitCode: 0, stdout: '{"sum":3,"labels":[],"note":"hi"}\n' });
  });

  it("is callable from Node in the VM too", async () => {
    const script = `const out = require("child_process").execSync("agentos-math add --a 40 --b 2").toString(); console.log(JSON.parse(out).sum)`;
    expect(await vm.exec(`node -e '${script}'`)).toMatchObject({ exitCode: 0, stdout: "42\n" });
  });

  it("explains itself: --help, the toolkit's help, agentos list-tools and the agents' instructions", async () => {
    const help = await vm.exec("agentos-math add --help");
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain("Adds two numbers");
    expect(help.stdout).toMatch(/--a <number>\s+first addend \(required\)/);
    expect(help.stdout).toContain("--round-down");
    expect(help.stdout).toContain(`agentos-math add --json '{"a":2,"b":3}'`);
    expect((await vm.exec("agentos-math --help")).stdout).toMatch(/add\s+Adds two numbers/);
    const list = await vm.exec("agentos list-tools");
    expect(list.stdout).toContain("agentos-math  Arithmetic on the host");
    expect(list.stdout).toMatch(/slow\s+Takes longer than its timeout/);
    const listed = JSON.parse((await vm.exec("agentos list-tools --json")).stdout);
    expect(listed[0]).toMatchObject({ toolkit: "math", command: "agentos-math" });
    expect(listed[0].tools[0].inputSchema.required).toEqual(["a", "b"]);
    const instructions = new TextDecoder().decode(await vm.readFile("/etc/agentos/instructions.md"));
    expect(instructions).toContain("## Host tools");
    expect(instructions).toContain("agentos-math add --a <number> --b <number>");
  });

  it("reports bad input clearly and exits non-zero without running the tool", async () => {
    calls.length = 0;
    const notNumber = await vm.exec("agentos-math add --a two --b 1");
    expect(notNumber).toMatchObject({ exitCode: 2, stderr: expect.stringContaining('--a expects a number, got "two"') });
    const missing = await vm.exec("agentos-math add --a 1");
    expect(missing).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("missing --b") });
    const unknown = await vm.exec("agentos-math add --a 1 --b 2 --c 3");
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown option '--c'/);
    // Checked by the tool's own zod schema on the host.
    const negative = await vm.exec("agentos-math add --a 1 --b=-5");
    expect(negative).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("invalid input") });
    expect(negative.stderr).toContain("b");
    expect((await vm.exec("agentos-math nope")).stderr).toContain('no tool "nope"; tools: add, fail, slow, danger');
    expect(calls).toEqual([]);
  });

  it("turns a thrown error into a message and exit 1", async () => {
    expect(await vm.exec("agentos-math fail")).toMatchObject({ exitCode: 1, stderr: "agentos-math fail: the host said no\n" });
  });

  it("ends a call that outlives the tool's timeout with 124", async () => {
    const started = Date.now();
    const result = await vm.exec("agentos-math slow");
    expect(result).toMatchObject({ exitCode: 124, stderr: expect.stringContaining("timed out after 300 ms") });
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it("gates tools by the tool scope of the permission policy", async () => {
    const denied = await vm.exec("agentos-math danger");
    expect(denied).toMatchObject({ exitCode: 126, stderr: expect.stringContaining("permission denied") });
    expect(denied.stderr).toContain("permissions.tool[0] denies math/danger");
    expect(denied.stdout).toBe("");
  });

  it("lets the Pi agent discover and call a tool in a session", async () => {
    calls.length = 0;
    const { sessionId } = await vm.createSession("pi", { env: { ...piEnv(model), AGENTOS_PERMISSION_MODE: "bypassPermissions" } });
    try {
      const answer = await vm.prompt(sessionId, "add twenty and twenty-two");
      expect(answer.text).toContain("The sum is 42.");
      expect(calls).toEqual([{ a: 20, b: 22 }]);
      expect(model.toolResults().some((result) => /\\?"sum\\?":42/.test(result))).toBe(true);
      expect(model.systemPrompts().at(-1)).toContain("agentos-math add --a <number> --b <number>");
    } finally {
      await vm.closeSession(sessionId);
    }
  }, 60_000);
});
