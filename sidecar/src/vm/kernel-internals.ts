import type { Kernel, VirtualFileSystem } from "@secure-exec/core";

/**
 * The one place the sidecar reaches past secure-exec 0.2.1's public Kernel
 * interface, which
 * - can only signal processes the host spawned itself, while its process
 *   table signals any pid (needed to end whole process trees when a limit
 *   fires or a VM is disposed);
 * - has no lstat/readlink/symlink/chmod, while its mount-aware VFS does.
 */
interface KernelInternals {
  processTable: { kill(pid: number, signal: number): void };
  vfs: VirtualFileSystem;
}

/** The kernel's mount-aware filesystem (what guest processes see). */
export function kernelVfs(kernel: Kernel): VirtualFileSystem {
  return (kernel as unknown as KernelInternals).vfs;
}

export const SIGTERM = 15;
export const SIGKILL = 9;

export function signalPid(kernel: Kernel, pid: number, signal: number): void {
  try {
    (kernel as unknown as KernelInternals).processTable.kill(pid, signal);
  } catch {
    // Gone already.
  }
}

/** `pid` and every running process below it. */
export function processTree(kernel: Kernel, pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const info of kernel.processes.values()) {
    if (info.status === "exited") continue;
    const list = children.get(info.ppid) ?? [];
    list.push(info.pid);
    children.set(info.ppid, list);
  }
  const tree: number[] = [];
  const queue = [pid];
  const seen = new Set<number>();
  while (queue.length > 0) {
    const next = queue.shift() as number;
    if (seen.has(next)) continue;
    seen.add(next);
    tree.push(next);
    queue.push(...(children.get(next) ?? []));
  }
  return tree;
}

/** Signals `pid` and all its descendants (collected first, so none escapes by re-parenting). */
export function signalTree(kernel: Kernel, pid: number, signal: number): void {
  for (const member of processTree(kernel, pid)) signalPid(kernel, member, signal);
}
