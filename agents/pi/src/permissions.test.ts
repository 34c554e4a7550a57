import { describe, expect, it } from "vitest";
import { permissionNeeded, toolKind } from "./permissions.js";

describe("permission policy", () => {
  it("classifies Pi's tools", () => {
    expect(["read", "write", "edit", "bash", "grep", "find", "ls", "mystery"].map(toolKind)).toEqual([
      "read",
      "edit",
      "edit",
      "execute",
      "search",
      "search",
      "search",
      "other",
    ]);
  });

  it("asks before writes and commands in the default mode, never before reads", () => {
    const none = new Set<string>();
    expect(permissionNeeded("default", "read", none)).toBe("allow");
    expect(permissionNeeded("default", "search", none)).toBe("allow");
    expect(permissionNeeded("default", "edit", none)).toBe("ask");
    expect(permissionNeeded("default", "execute", none)).toBe("ask");
    expect(permissionNeeded("default", "other", none)).toBe("ask");
  });

  it("follows the session's mode and the user's always answers", () => {
    const none = new Set<string>();
    expect(permissionNeeded("acceptEdits", "edit", none)).toBe("allow");
    expect(permissionNeeded("acceptEdits", "execute", none)).toBe("ask");
    expect(permissionNeeded("bypassPermissions", "execute", none)).toBe("allow");
    expect(permissionNeeded("plan", "edit", none)).toBe("deny");
    expect(permissionNeeded("plan", "read", none)).toBe("allow");
    expect(permissionNeeded("default", "execute", new Set(["execute"]))).toBe("allow");
    expect(permissionNeeded("plan", "execute", new Set(["execute"]))).toBe("deny");
  });
});
