// Resident memory of a process tree, read from /proc (Linux only).
import { readdirSync, readFileSync } from "node:fs";

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return undefined; // gone meanwhile, or not ours to read
  }
}

function parentOf(pid: number): number | undefined {
  const stat = readProc(pid, "stat");
  if (!stat) return undefined;
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after its last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[1]);
}

function pids(): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** Command line of a process, arguments joined with spaces. */
export function commandLine(pid: number): string {
  return (readProc(pid, "cmdline") ?? "").split("\0").join(" ").trim();
}

/** Direct children of `pid`. */
export function childrenOf(pid: number): number[] {
  return pids().filter((p) => parentOf(p) === pid);
}

/** Every descendant of `root` (children, their children, ...). */
export function descendantsOf(root: number): number[] {
  const parents = new Map<number, number[]>();
  for (const pid of pids()) {
    const parent = parentOf(pid);
    if (parent === undefined) continue;
    const siblings = parents.get(parent);
    if (siblings) siblings.push(pid);
    else parents.set(parent, [pid]);
  }
  const found: number[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const child of parents.get(pid) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** VmRSS of one process in MiB (0 when it is gone). */
export function rssMiB(pid: number): number {
  const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(readProc(pid, "status") ?? "")?.[1];
  return kib ? Number(kib) / 1024 : 0;
}

export interface TreeRss {
  /** The root process itself. */
  rootMiB: number;
  /** All its descendants together. */
  descendantsMiB: number;
  totalMiB: number;
  /** Descendants and their command lines, for the progress log. */
  descendants: { pid: number; command: string; mib: number }[];
}

export function treeRss(root: number): TreeRss {
  const rootMiB = rssMiB(root);
  const descendants = descendantsOf(root).map((pid) => ({ pid, command: commandLine(pid), mib: rssMiB(pid) }));
  const descendantsMiB = descendants.reduce((sum, d) => sum + d.mib, 0);
  return { rootMiB, descendantsMiB, totalMiB: rootMiB + descendantsMiB, descendants };
}

/** Sidecar processes this process started (`@agentos/sidecar`'s main script). */
export function sidecarChildren(): number[] {
  return childrenOf(process.pid).filter((pid) => {
    const command = commandLine(pid);
    return command.includes("sidecar/dist/main.js") || command.includes("@agentos/sidecar");
  });
}
