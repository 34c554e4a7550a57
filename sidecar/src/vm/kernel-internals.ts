import { AsyncLocalStorage } from "node:async_hooks";
import {
  FDTableManager,
  type Kernel,
  KernelError,
  type KernelRuntimeDriver,
  ProcessFDTable,
  type VirtualFileSystem,
} from "@secure-exec/core";
import { decorateDriver } from "./driver-decorator.js";
import { RUNTIME_MAX_OPEN_FILES } from "./limits.js";

/**
 * The one place the sidecar reaches past secure-exec 0.2.1's public Kernel
 * interface, which
 * - can only signal processes the host spawned itself, while its process
 *   table signals any pid (needed to end whole process trees when a limit
 *   fires or a VM is disposed);
 * - has no lstat/readlink/symlink/chmod, while its mount-aware VFS does;
 * - caps sockets per kernel and fds per process at fixed numbers (1024, 256)
 *   that only its internals can lower.
 */
interface KernelInternals {
  processTable: { kill(pid: number, signal: number): void };
  /** The mount table behind the permission checks. */
  mountTable: VirtualFileSystem;
  /** The mount table wrapped in the permission checks (what guests use). */
  vfs: VirtualFileSystem;
  socketTable: { maxSockets: number };
  fdTableManager: { tables: Map<number, FdTable> };
}

interface FdTable {
  entries: Map<number, unknown>;
  allocateFd(): number;
  dupMinFd(fd: number, minFd: number): number;
}

/** The kernel's mount-aware filesystem (what guest processes see). */
export function kernelVfs(kernel: Kernel): VirtualFileSystem {
  return (kernel as unknown as KernelInternals).vfs;
}

/** The same filesystem without the permission policy: for the sidecar's own files. */
export function kernelSystemVfs(kernel: Kernel): VirtualFileSystem {
  return (kernel as unknown as KernelInternals).mountTable;
}

/** Sockets open at once in the kernel (its own default is 1024). */
export function limitSockets(kernel: Kernel, max: number): void {
  (kernel as unknown as KernelInternals).socketTable.maxSockets = max;
}

/** The fd cap of each fd table, for tables with a cap lower than the runtime's own. */
const tableLimits = new WeakMap<object, number>();
/** The cap for fd tables a runtime creates while it starts a process (see withOpenFileLimit). */
const startingProcessLimit = new AsyncLocalStorage<number>();
let fdTablesPatched = false;

/**
 * Makes every fd table honour the cap recorded for it in `tableLimits`.
 * The kernel's own tables and the tables the Node runtime keeps for its
 * processes (one per execution, outside the kernel) are the same class.
 */
function patchFdTables(): void {
  if (fdTablesPatched) return;
  fdTablesPatched = true;
  const table = ProcessFDTable.prototype as unknown as FdTable;
  const full = (self: FdTable) => {
    const max = tableLimits.get(self);
    if (max !== undefined && self.entries.size >= max) {
      throw new KernelError("EMFILE", `too many open files (limits.maxOpenFiles is ${max})`);
    }
  };
  const allocate = table.allocateFd;
  const dupMin = table.dupMinFd;
  table.allocateFd = function (this: FdTable) {
    full(this);
    return allocate.call(this);
  };
  table.dupMinFd = function (this: FdTable, fd: number, minFd: number) {
    full(this);
    return dupMin.call(this, fd, minFd);
  };
  const manager = FDTableManager.prototype as unknown as { create(pid: number): FdTable };
  const create = manager.create;
  manager.create = function (this: unknown, pid: number) {
    const created = create.call(this, pid);
    const max = startingProcessLimit.getStore();
    if (max !== undefined) tableLimits.set(created, max);
    return created;
  };
}

/**
 * Open fds per process. The kernel refuses more than 256 itself; this
 * lowers the cap for every fd table the kernel creates from now on.
 */
export function limitOpenFiles(kernel: Kernel, max: number): void {
  // At the runtime's own cap there is nothing to lower (and nothing to do per table).
  if (max >= RUNTIME_MAX_OPEN_FILES) return;
  patchFdTables();
  const tables = (kernel as unknown as KernelInternals).fdTableManager.tables;
  const set = tables.set.bind(tables);
  tables.set = (pid: number, table: FdTable) => {
    tableLimits.set(table, max);
    return set(pid, table);
  };
}

/**
 * The Node runtime keeps its processes' fds in tables of its own, created
 * while the process starts: the cap reaches them through the start's
 * async context.
 */
export function withOpenFileLimit(driver: KernelRuntimeDriver, max: number): KernelRuntimeDriver {
  if (max >= RUNTIME_MAX_OPEN_FILES) return driver;
  patchFdTables();
  return decorateDriver(driver, {
    spawn: (command, args, context) => startingProcessLimit.run(max, () => driver.spawn(command, args, context)),
  });
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
