import { existsSync, statSync } from "node:fs";
import type { SoftwarePackage } from "@agentos/proto";
import common from "@rivet-dev/agent-os-common";
import { invalidArgument } from "../errors.js";

type PermissionTier = "full" | "read-write" | "read-only" | "isolated";
const TIERS: ReadonlySet<string> = new Set(["full", "read-write", "read-only", "isolated"]);

interface CommandPackage {
  commandDir: string;
  commands?: { name: string; permissionTier?: string }[];
}

export interface ResolvedSoftware {
  /** Searched in order: configured packages first, then the common set. */
  commandDirs: string[];
  permissions: Record<string, PermissionTier>;
}

/** The common POSIX command set (coreutils, sed, grep, gawk, findutils, diffutils, tar, gzip). */
const COMMON = common as unknown as CommandPackage[];

/**
 * Every VM gets the common command set; configured packages are searched
 * first, so they can supply their own version of a command.
 */
export function resolveSoftware(packages: SoftwarePackage[]): ResolvedSoftware {
  const commandDirs: string[] = [];
  const permissions: Record<string, PermissionTier> = {};
  for (const [i, pkg] of packages.entries()) {
    const where = `software[${i}]${pkg.name ? ` (${pkg.name})` : ""}`;
    if (pkg.commandDirs.length === 0) throw invalidArgument(`${where} has no command directory`);
    for (const dir of pkg.commandDirs) {
      if (!existsSync(dir) || !statSync(dir).isDirectory()) {
        throw invalidArgument(`${where}: command directory ${dir} does not exist on the sidecar's host`);
      }
      commandDirs.push(dir);
    }
    for (const [command, tier] of Object.entries(pkg.commandPermissions)) {
      if (!TIERS.has(tier))
        throw invalidArgument(`${where}: permission tier "${tier}" of ${command} is not one of ${[...TIERS].join(", ")}`);
      permissions[command] ??= tier as PermissionTier;
    }
  }
  for (const pkg of COMMON) {
    commandDirs.push(pkg.commandDir);
    for (const command of pkg.commands ?? []) {
      if (command.permissionTier && TIERS.has(command.permissionTier)) {
        permissions[command.name] ??= command.permissionTier as PermissionTier;
      }
    }
  }
  return { commandDirs, permissions };
}
