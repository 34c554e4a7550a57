import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * vm/ is the generic layer: it must not know about agents, sessions or ACP.
 * Its files may import only Node builtins, the runtime (secure-exec and the
 * WebAssembly userland), the wire package, and modules inside vm/ or the
 * sidecar's shared errors module.
 */
const VM_DIR = fileURLToPath(new URL(".", import.meta.url));
const ALLOWED_PACKAGES = [/^node:/, /^@secure-exec\//, /^@rivet-dev\/agent-os-(posix|common)$/, /^@agentos\/proto$/, /^picomatch$/];
const ALLOWED_RELATIVE = [/^\.\/[\w-]+\.js$/, /^\.\.\/errors\.js$/];
const FORBIDDEN_WORDS = /\b(acp|agent-pi|agentclientprotocol|session)\b/i;

function importsOf(source: string): string[] {
  const specifiers: string[] = [];
  for (const match of source.matchAll(
    /(?:import|export)\s[^"']*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^import\s+["']([^"']+)["']/gm,
  )) {
    specifiers.push(match[1] ?? match[2] ?? match[3]);
  }
  return specifiers;
}

describe("vm/ boundary", () => {
  const files = readdirSync(VM_DIR).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));

  it("has files to check", () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it.each(files)("%s imports nothing from acp/, agents or sessions", (file) => {
    const source = readFileSync(join(VM_DIR, file), "utf8");
    const specifiers = importsOf(source);
    for (const specifier of specifiers) {
      const allowed = specifier.startsWith(".")
        ? ALLOWED_RELATIVE.some((re) => re.test(specifier))
        : ALLOWED_PACKAGES.some((re) => re.test(specifier));
      expect(allowed, `${file} imports "${specifier}", which vm/ may not depend on`).toBe(true);
      expect(FORBIDDEN_WORDS.test(specifier), `${file} imports "${specifier}"`).toBe(false);
    }
  });

  it("catches a forbidden import (the check itself works)", () => {
    const specifiers = importsOf('import { AcpClient } from "../acp/client.js";\nimport x from "./ok.js";');
    expect(specifiers).toEqual(["../acp/client.js", "./ok.js"]);
    expect(ALLOWED_RELATIVE.some((re) => re.test("../acp/client.js"))).toBe(false);
  });
});
