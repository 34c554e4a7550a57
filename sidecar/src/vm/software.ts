import { existsSync, statSync } from "node:fs";
import type { SoftwarePackage } from "@agentos/proto";
import common from "@rivet-dev/agent-os-common";
import { invalidArgument } from "../errors.js";

/** The common POSIX command set (coreutils, sed, grep, gawk, findutils, diffutils, tar, gzip). */
const COMMON_DIRS = (common as unknown as { commandDir: string }[]).map((pkg) => pkg.commandDir);

/**
 * Command directories, searched in order: configured packages first, so
 * they can supply their own version of a command, then the common set every
 * VM has.
 *
 * No per-command permission tiers are given to the userland driver: in
 * @rivet-dev/agent-os-posix 0.1.0 its read-only tier refuses reads too (it
 * takes the fd_read right for write intent), which breaks cat, ls, grep...
 * Without tiers every command runs unrestricted inside its VM, whose
 * kernel is the boundary (see NOTES.md).
 */
export function resolveCommandDirs(packages: SoftwarePackage[]): string[] {
  const dirs: string[] = [];
  for (const [i, pkg] of packages.entries()) {
    const where = `software[${i}]${pkg.name ? ` (${pkg.name})` : ""}`;
    if (pkg.commandDirs.length === 0) throw invalidArgument(`${where} has no command directory`);
    for (const dir of pkg.commandDirs) {
      if (!existsSync(dir) || !statSync(dir).isDirectory()) {
        throw invalidArgument(`${where}: command directory ${dir} does not exist on the sidecar's host`);
      }
      dirs.push(dir);
    }
  }
  return [...dirs, ...COMMON_DIRS];
}
