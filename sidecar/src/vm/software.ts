import { existsSync, statSync } from "node:fs";
import { posix } from "node:path";
import type { AgentSoftware, PackageRoot, SoftwarePackage } from "@agentos/proto";
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
    if (pkg.commandDirs.length === 0 && !pkg.agent) throw invalidArgument(`${where} has no command directory`);
    for (const dir of pkg.commandDirs) {
      if (!existsSync(dir) || !statSync(dir).isDirectory()) {
        throw invalidArgument(`${where}: command directory ${dir} does not exist on the sidecar's host`);
      }
      dirs.push(dir);
    }
  }
  return [...dirs, ...COMMON_DIRS];
}

/** Where the Node runtime projects host packages (@secure-exec/nodejs 0.2.1). */
const NODE_MODULES = "/root/node_modules";

/** An agent the VM's software offers, and whether its adapter is present. */
export interface AgentInstall {
  readonly software: AgentSoftware;
  readonly installed: boolean;
}

/**
 * Host folders projected read-only into the VM for agent adapters. Each must
 * exist and map to an absolute VM path; later agents may not take a VM path
 * an earlier one has.
 */
export function resolvePackageRoots(packages: SoftwarePackage[]): PackageRoot[] {
  const roots = new Map<string, PackageRoot>();
  for (const [i, pkg] of packages.entries()) {
    for (const root of pkg.agent?.packageRoots ?? []) {
      const where = `software[${i}]${pkg.name ? ` (${pkg.name})` : ""}`;
      if (posix.normalize(root.vmPath) !== root.vmPath || !root.vmPath.startsWith(`${NODE_MODULES}/`)) {
        throw invalidArgument(
          `${where}: package root VM path "${root.vmPath}" must be a normalised path under ${NODE_MODULES}/ (the only place the VM's node loads packages from)`,
        );
      }
      if (!existsSync(root.hostPath) || !statSync(root.hostPath).isDirectory()) {
        throw invalidArgument(`${where}: package folder ${root.hostPath} does not exist on the sidecar's host`);
      }
      const taken = roots.get(root.vmPath);
      if (taken && taken.hostPath !== root.hostPath) {
        throw invalidArgument(`${where}: ${root.vmPath} is already mapped to ${taken.hostPath}`);
      }
      roots.set(root.vmPath, root);
    }
  }
  return [...roots.values()];
}

/** The agents of the VM's software; an adapter is installed when its entry script exists. */
export function resolveAgents(packages: SoftwarePackage[], roots: PackageRoot[]): AgentInstall[] {
  const agents: AgentInstall[] = [];
  for (const pkg of packages) {
    if (!pkg.agent) continue;
    const host = hostPathOf(pkg.agent.entry, roots);
    agents.push({ software: pkg.agent, installed: host !== undefined && existsSync(host) });
  }
  return agents;
}

function hostPathOf(vmPath: string, roots: PackageRoot[]): string | undefined {
  const root = roots
    .filter((r) => vmPath === r.vmPath || vmPath.startsWith(`${r.vmPath}/`))
    .sort((a, b) => b.vmPath.length - a.vmPath.length)[0];
  return root ? root.hostPath + vmPath.slice(root.vmPath.length) : undefined;
}
