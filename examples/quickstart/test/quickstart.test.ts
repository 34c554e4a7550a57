import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { quickstart } from "../src/main.js";

it("runs every step of the quickstart in a VM", async () => {
  const lines: string[] = [];
  const result = await quickstart((line) => lines.push(line));
  expect(result.pipeline).toBe("BANANA\nAPPLE\n");
  expect(result.nodeOutput).toBe("report written with 3 words\n");
  expect(result.report).toEqual({ sum: 10, words: ["alpha", "beta", "gamma"] });
  expect(result.ticks).toEqual(["tick 1", "tick 2", "tick 3"]);
  expect(result.exitCode).toBe(0);
  expect(lines[0]).toMatch(/^VM vm-\d+ is up$/);
  expect(lines.at(-1)).toBe("VM disposed");
});

it("runs as a program, the way the README's first command runs it", async () => {
  const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
  const tsx = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));
  const { stdout } = await promisify(execFile)(tsx, [main], { timeout: 60_000 });
  expect(stdout).toContain("pipeline -> BANANA, APPLE");
  expect(stdout).toContain('report.json -> {"sum":10,"words":["alpha","beta","gamma"]}');
  expect(stdout).toMatch(/process \d+ exited with 0/);
  expect(stdout.trim().endsWith("VM disposed")).toBe(true);
});
