import { posix } from "node:path";
import { type PermissionDefaults, PermissionEffect, type PermissionPolicy, type PermissionRule } from "@agentos/proto";
import type { FsAccessRequest, PermissionDecision } from "@secure-exec/core";
import picomatch from "picomatch";
import { invalidArgument } from "../errors.js";

/**
 * The fs, childProcess, env and tool scopes of a VM's permission policy
 * (network has its own module: its patterns are host:port). In each scope
 * the rules are evaluated in order, the first match decides, and without a
 * match the scope's default applies. Globs are picomatch globs: `*` never
 * crosses `/`, `**` does.
 */
export type Scope = "fs" | "childProcess" | "env" | "tool";
export type FsAccess = "read" | "write";

/** The OS's own configuration; the guest may read it, never change it. */
export const PROTECTED_DIR = "/etc/agentos";

/** Which kernel operations are reads; every other one is a write. */
const READ_OPS: ReadonlySet<FsAccessRequest["op"]> = new Set(["read", "readdir", "stat", "exists", "readlink"]);

interface CompiledRule {
  allow: boolean;
  matches: (subject: string) => boolean;
  /** fs: the accesses the rule covers. */
  access: ReadonlySet<FsAccess>;
  /** fs: the fixed folder above every path the rule can match. */
  base: string;
  source: string;
  /** Said instead of "<source> allows/denies ..." when set. */
  reason?: string;
}

/** Before every configured fs rule: the OS's own folder is read-only. */
const PROTECTED_RULE: CompiledRule = {
  allow: false,
  matches: (path) => isAtOrBelow(path, PROTECTED_DIR),
  access: new Set<FsAccess>(["write"]),
  base: PROTECTED_DIR,
  source: PROTECTED_DIR,
  reason: `${PROTECTED_DIR} is read-only to the guest`,
};

/** Allowed decisions carry no reason (nobody reads it): one shared object, nothing built per operation. */
const ALLOWED: PermissionDecision = Object.freeze({ allow: true });

const BUILT_IN_DEFAULTS: Record<Scope, boolean> = { fs: true, childProcess: true, env: true, tool: true };

export class PermissionPolicyEngine {
  private constructor(
    private readonly rules: Record<Scope, readonly CompiledRule[]>,
    private readonly defaults: Record<Scope, boolean>,
  ) {}

  static fromConfig(policy: PermissionPolicy | undefined): PermissionPolicyEngine {
    const defaults = { ...BUILT_IN_DEFAULTS };
    const given: PermissionDefaults | undefined = policy?.defaults;
    const wireNames: Record<Scope, keyof PermissionDefaults> = { fs: "fs", childProcess: "childProcess", env: "env", tool: "tool" };
    for (const scope of Object.keys(defaults) as Scope[]) {
      const effect = given?.[wireNames[scope]];
      if (effect === PermissionEffect.ALLOW) defaults[scope] = true;
      else if (effect === PermissionEffect.DENY) defaults[scope] = false;
    }
    return new PermissionPolicyEngine(
      {
        fs: [PROTECTED_RULE, ...compile("fs", policy?.fs ?? [])],
        childProcess: compile("childProcess", policy?.childProcess ?? []),
        env: compile("env", policy?.env ?? []),
        tool: compile("tool", policy?.tool ?? []),
      },
      defaults,
    );
  }

  /** A guest filesystem access to a normalised absolute path. */
  decideFs(access: FsAccess, path: string): PermissionDecision {
    for (const rule of this.rules.fs) {
      if (rule.access.has(access) && rule.matches(path)) return decided(rule, `${access} of ${path}`);
    }
    return this.byDefault("fs", `${access} of ${path}`);
  }

  /** The kernel's fs permission hook (the kernel hands it normalised paths). */
  checkFs(request: FsAccessRequest): PermissionDecision {
    const path = request.path.startsWith("/") ? request.path : posix.resolve("/", request.path);
    if (request.op === "rename") return this.checkRenamed(path);
    return this.decideFs(READ_OPS.has(request.op) ? "read" : "write", path);
  }

  /**
   * One side of a rename. A rename gives what it moves a new path, so the
   * guest needs both read and write access to it, and a folder above a
   * path the guest may not read or write can be neither moved nor replaced.
   */
  checkRenamed(path: string): PermissionDecision {
    for (const access of ["write", "read"] as const) {
      const decision = this.decideFs(access, path);
      if (!decision.allow) return decision;
      const guarded = this.guardedBelow(path, access);
      if (guarded && guarded !== path) {
        return { allow: false, reason: `renaming ${path} would move ${guarded}, which the guest may not ${access}` };
      }
    }
    return { allow: true };
  }

  /**
   * Whether the guest may change `path` and everything below it (a
   * recursive delete, a move by copy): checked before the first change, so
   * a refused operation changes nothing.
   */
  checkTreeWrite(path: string): PermissionDecision {
    const decision = this.decideFs("write", path);
    if (!decision.allow) return decision;
    const guarded = this.guardedBelow(path, "write");
    return guarded ? { allow: false, reason: `${guarded}, below ${path}, may not be written by the guest` } : decision;
  }

  /**
   * A link (symbolic or hard) at `linkPath` to `target`. Refused when the
   * target is, or is above or below, a path a rule restricts: a link must
   * not become a second name for something the guest may not read or write.
   */
  checkLink(target: string, linkPath: string): PermissionDecision {
    const resolved = posix.resolve(posix.dirname(posix.resolve("/", linkPath)), target);
    for (const access of ["read", "write"] as const) {
      if (!this.decideFs(access, resolved).allow) {
        return { allow: false, reason: `a link to ${resolved} would bypass the policy (the guest may not ${access} it)` };
      }
      const guarded = this.guardedBelow(resolved, access);
      if (guarded) return { allow: false, reason: `a link to ${resolved} would reach ${guarded}, which the guest may not ${access}` };
      const above = this.guardedAbove(resolved, access);
      if (above) return { allow: false, reason: `a link to ${resolved} would reach into ${above}, which the guest may not ${access}` };
    }
    return { allow: true };
  }

  /** Whether the guest may start `command` (a name or a path). */
  decideCommand(command: string): PermissionDecision {
    const name = posix.basename(command);
    for (const rule of this.rules.childProcess) {
      if (rule.matches(command) || rule.matches(name)) return decided(rule, `running ${command}`);
    }
    return this.byDefault("childProcess", `running ${command}`);
  }

  /** Whether guest processes may see the environment variable `name`. */
  decideEnv(name: string): PermissionDecision {
    for (const rule of this.rules.env) {
      if (rule.matches(name)) return decided(rule, name);
    }
    return this.byDefault("env", `reading ${name}`);
  }

  /** The variables of `env` the guest may read; `always` names pass regardless. */
  filterEnv(env: Record<string, string>, always: ReadonlySet<string>): Record<string, string> {
    const kept: Record<string, string> = {};
    for (const [name, value] of Object.entries(env)) {
      if (always.has(name) || this.decideEnv(name).allow) kept[name] = value;
    }
    return kept;
  }

  /** Whether the guest may call host tool `tool` of `toolkit`. */
  decideTool(toolkit: string, tool: string): PermissionDecision {
    const subject = `${toolkit}/${tool}`;
    for (const rule of this.rules.tool) {
      if (rule.matches(subject)) return decided(rule, subject);
    }
    return this.byDefault("tool", `calling ${subject}`);
  }

  private byDefault(scope: Scope, what: string): PermissionDecision {
    return this.defaults[scope] ? ALLOWED : { allow: false, reason: `${what} is denied by the ${scope} default` };
  }

  /** A restricted path at or below `path`, if any. */
  private guardedBelow(path: string, access: FsAccess): string | undefined {
    for (const rule of this.rules.fs) {
      if (!rule.allow && rule.access.has(access) && isAtOrBelow(rule.base, path)) return rule.base;
    }
    return undefined;
  }

  /** A folder at or above `path` under which a rule restricts something. */
  private guardedAbove(path: string, access: FsAccess): string | undefined {
    for (const rule of this.rules.fs) {
      if (rule.allow || !rule.access.has(access)) continue;
      if (isAtOrBelow(path, rule.base)) return rule.base;
    }
    return undefined;
  }
}

/** What a matching rule says about `what`. */
function decided(rule: CompiledRule, what: string): PermissionDecision {
  if (rule.allow) return ALLOWED;
  return { allow: false, reason: rule.reason ?? `${rule.source} denies ${what}` };
}

function compile(scope: Scope, rules: PermissionRule[]): CompiledRule[] {
  return rules.map((rule, i) => {
    const where = `permissions.${scope}[${i}]`;
    if (rule.effect !== PermissionEffect.ALLOW && rule.effect !== PermissionEffect.DENY) {
      throw invalidArgument(`${where}.effect must be "allow" or "deny"`);
    }
    const pattern = rule.pattern.trim();
    if (!pattern) throw invalidArgument(`${where}.pattern is empty`);
    if (scope === "fs" && !pattern.startsWith("/")) {
      throw invalidArgument(`${where}.pattern "${pattern}" must be an absolute path glob (e.g. "/data/**")`);
    }
    if (scope === "tool" && !pattern.includes("/")) {
      throw invalidArgument(`${where}.pattern "${pattern}" must be "<toolkit>/<tool>" (e.g. "github/*")`);
    }
    const access = new Set<FsAccess>();
    for (const op of rule.ops) {
      if (scope !== "fs") throw invalidArgument(`${where}.ops applies to the fs scope only`);
      if (op !== "read" && op !== "write") throw invalidArgument(`${where}.ops contains "${op}"; use "read" or "write"`);
      access.add(op);
    }
    if (access.size === 0) {
      access.add("read");
      access.add("write");
    }
    const matcher = picomatch(pattern, { dot: true });
    const base = scope === "fs" ? picomatch.scan(pattern).base || "/" : "";
    return {
      allow: rule.effect === PermissionEffect.ALLOW,
      matches: (subject: string) => matcher(subject),
      access,
      base: posix.resolve("/", base),
      source: where,
    };
  });
}

/** Whether `path` is `folder` or below it. */
export function isAtOrBelow(path: string, folder: string): boolean {
  return folder === "/" || path === folder || path.startsWith(`${folder}/`);
}
