import { PermissionEffect, type PermissionPolicy } from "@agentos/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PermissionPolicyEngine } from "./permissions.js";

const ALLOW = PermissionEffect.ALLOW;
const DENY = PermissionEffect.DENY;

function engine(policy: Partial<PermissionPolicy>): PermissionPolicyEngine {
  return PermissionPolicyEngine.fromConfig({ network: [], fs: [], childProcess: [], env: [], tool: [], ...policy });
}

describe("the permission policy", () => {
  it("allows by default in fs, childProcess, env and tool, and keeps /etc/agentos read-only", () => {
    const p = engine({});
    expect(p.decideFs("write", "/home/user/a").allow).toBe(true);
    expect(p.decideCommand("node").allow).toBe(true);
    expect(p.decideEnv("ANY").allow).toBe(true);
    expect(p.decideTool("kit", "tool").allow).toBe(true);
    expect(p.decideFs("read", "/etc/agentos/instructions.md").allow).toBe(true);
    expect(p.decideFs("write", "/etc/agentos/instructions.md")).toMatchObject({
      allow: false,
      reason: "/etc/agentos is read-only to the guest",
    });
    // Not even an allow rule opens it.
    expect(engine({ fs: [{ effect: ALLOW, pattern: "/**", ops: [] }] }).decideFs("write", "/etc/agentos").allow).toBe(false);
  });

  it("lets the first matching rule decide, then the scope default", () => {
    const p = engine({
      fs: [
        { effect: ALLOW, pattern: "/data/public/**", ops: [] },
        { effect: DENY, pattern: "/data/**", ops: ["write"] },
      ],
      defaults: { fs: DENY, network: 0, childProcess: 0, env: 0, tool: 0 },
    });
    expect(p.decideFs("write", "/data/public/x").allow).toBe(true);
    expect(p.decideFs("write", "/data/private/x")).toMatchObject({ allow: false, reason: expect.stringContaining("permissions.fs[1]") });
    expect(p.decideFs("read", "/data/private/x")).toMatchObject({ allow: false, reason: expect.stringContaining("fs default") });
    expect(p.decideFs("read", "/tmp/x").allow).toBe(false);
  });

  it("never lets * cross a slash; ** does", () => {
    const p = engine({ fs: [{ effect: DENY, pattern: "/data/*", ops: [] }] });
    expect(p.decideFs("read", "/data/a").allow).toBe(false);
    expect(p.decideFs("read", "/data/a/b").allow).toBe(true);
    fc.assert(
      fc.property(
        fc.array(
          fc.stringMatching(/^[a-z.]{1,6}$/).filter((part) => part !== "." && part !== ".."),
          { minLength: 2, maxLength: 5 },
        ),
        (parts) => {
          const path = `/data/${parts.join("/")}`;
          expect(p.decideFs("read", path).allow).toBe(true);
          expect(engine({ fs: [{ effect: DENY, pattern: "/data/**", ops: [] }] }).decideFs("read", path).allow).toBe(false);
        },
      ),
    );
  });

  it("guards renames of folders above a protected path and links that would name one", () => {
    const p = engine({ fs: [{ effect: DENY, pattern: "/secret/**", ops: ["read"] }] });
    expect(p.checkFs({ op: "rename", path: "/etc" }).allow).toBe(false);
    expect(p.checkFs({ op: "rename", path: "/tmp/a" }).allow).toBe(true);
    // Moving a read-protected folder (or a folder above it) would take it out from under its rule.
    expect(p.checkFs({ op: "rename", path: "/secret" }).allow).toBe(false);
    expect(p.checkFs({ op: "rename", path: "/" }).allow).toBe(false);
    expect(p.checkLink("/etc/agentos/instructions.md", "/tmp/l").allow).toBe(false);
    expect(p.checkLink("/", "/tmp/root").allow).toBe(false);
    expect(p.checkLink("../secret/key", "/tmp/l").allow).toBe(false);
    expect(p.checkLink("/secret/key", "/tmp/l").allow).toBe(false);
    expect(p.checkLink("notes.txt", "/home/user/link").allow).toBe(true);
    expect(p.checkTreeWrite("/etc").allow).toBe(false);
    expect(p.checkTreeWrite("/home").allow).toBe(true);
  });

  it("matches commands by name or by path, env names and toolkit/tool globs", () => {
    const p = engine({
      childProcess: [{ effect: DENY, pattern: "node", ops: [] }],
      env: [{ effect: ALLOW, pattern: "PUBLIC_*", ops: [] }],
      tool: [{ effect: DENY, pattern: "github/*", ops: [] }],
      defaults: { fs: 0, network: 0, childProcess: 0, env: DENY, tool: 0 },
    });
    expect(p.decideCommand("node").allow).toBe(false);
    expect(p.decideCommand("/usr/bin/node").allow).toBe(false);
    expect(p.decideCommand("ls").allow).toBe(true);
    expect(p.filterEnv({ PUBLIC_A: "1", SECRET: "2", HOME: "/h" }, new Set(["HOME"]))).toEqual({ PUBLIC_A: "1", HOME: "/h" });
    expect(p.decideTool("github", "create-issue").allow).toBe(false);
    expect(p.decideTool("slack", "post").allow).toBe(true);
  });

  it("refuses malformed rules with the rule's path", () => {
    expect(() => engine({ fs: [{ effect: 0, pattern: "/x", ops: [] }] })).toThrow(/permissions\.fs\[0\]\.effect/);
    expect(() => engine({ fs: [{ effect: ALLOW, pattern: "/x", ops: ["exec"] }] })).toThrow(/use "read" or "write"/);
    expect(() => engine({ env: [{ effect: ALLOW, pattern: "X", ops: ["read"] }] })).toThrow(/fs scope only/);
    expect(() => engine({ tool: [{ effect: ALLOW, pattern: "github", ops: [] }] })).toThrow(/<toolkit>\/<tool>/);
  });
});
