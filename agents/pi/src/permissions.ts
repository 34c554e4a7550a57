/**
 * When the agent asks before a tool runs. The session's mode is the policy;
 * "always" answers widen it for the rest of the session, per tool kind.
 */
export type ToolKind = "read" | "edit" | "delete" | "move" | "search" | "execute" | "think" | "fetch" | "other";

export const PERMISSION_MODES = [
  {
    id: "default",
    name: "Ask",
    description: "Ask before tools that write files or run commands",
  },
  {
    id: "acceptEdits",
    name: "Accept edits",
    description: "Write files without asking; ask before running commands",
  },
  {
    id: "bypassPermissions",
    name: "Bypass permissions",
    description: "Never ask",
  },
  {
    id: "plan",
    name: "Read only",
    description: "Refuse tools that write files or run commands, without asking",
  },
] as const;

export type PermissionMode = (typeof PERMISSION_MODES)[number]["id"];

const TOOL_KINDS: Record<string, ToolKind> = {
  read: "read",
  write: "edit",
  edit: "edit",
  bash: "execute",
  grep: "search",
  find: "search",
  ls: "search",
};

export function toolKind(toolName: string): ToolKind {
  return TOOL_KINDS[toolName] ?? "other";
}

/** Tools of these kinds change the VM; everything else only reads. */
function writesOrExecutes(kind: ToolKind): boolean {
  return kind === "edit" || kind === "delete" || kind === "move" || kind === "execute" || kind === "other";
}

export function permissionNeeded(mode: PermissionMode, kind: ToolKind, alwaysAllowed: ReadonlySet<string>): "allow" | "ask" | "deny" {
  if (!writesOrExecutes(kind)) return "allow";
  if (mode === "bypassPermissions") return "allow";
  if (mode === "plan") return "deny";
  if (alwaysAllowed.has(kind)) return "allow";
  if (mode === "acceptEdits" && kind === "edit") return "allow";
  return "ask";
}
