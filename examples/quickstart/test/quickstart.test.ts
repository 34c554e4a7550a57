import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { quickstart } from "../src/main.js";

it("runs every step of the quickstart in a VM", async () => {
  delete process.env.ANTHROPIC_API_KEY;
  const lines: string[] = [];
  const result = await quickstart((line) => lines.push(line));
  expect(result.pipeline).toBe("BANANA\nAPPLE\n");
  expect(result.nodeOutput).toBe("report written with 3 words\n");
  expect(result.report).toEqual({ sum: 10, words: ["alpha", "beta", "gamma"] });
  expect(result.ticks).toEqual(["tick 1", "tick 2", "tick 3"]);
  expect(result.exitCode).toBe(0);
  expect(result.tool).toEqual({ stdout: '{"saved":1}\n', received: [{ text: "hello from the VM", tags: ["demo"] }] });
  // Offline (no ANTHROPIC_API_KEY in tests): the real Pi agent in the VM, the mock model's scripted tool call.
  expect(result.agent.offline).toBe(true);
  expect(result.agent.haiku).toBe("Small VM hums on,\nan agent writes in its room,\nthe host sleeps soundly.\n");
  expect(result.agent.permissionsAsked).toBe(1);
  expect(result.agent.text).toBe("I wrote a haiku to /home/user/haiku.txt.");
  expect(lines[0]).toMatch(/^VM vm-\d+ is up$/);
  expect(lines.at(-1)).toBe("VM disposed");
});

it("runs as a program, the way the README's first command runs it", async () => {
  const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
  const tsx = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));
  const env = { ...process.env };
  delete env.ANTHROPIC_API_KEY;
  const { stdout } = await promisify(execFile)(tsx, [main], { timeout: 60_000, env });
  expect(stdout).toContain("pipeline -> BANANA, APPLE");
  expect(stdout).toContain('report.json -> {"sum":10,"words":["alpha","beta","gamma"]}');
  expect(stdout).toMatch(/process \d+ exited with 0/);
  expect(stdout).toContain('agentos-notes save -> {"saved":1} (the host got {"text":"hello from the VM","tags":["demo"]})');
  expect(stdout).toContain("agent tool call: write /home/user/haiku.txt");
  expect(stdout).toContain("haiku.txt ->\nSmall VM hums on,");
  expect(stdout.trim().endsWith("VM disposed")).toBe(true);
});
