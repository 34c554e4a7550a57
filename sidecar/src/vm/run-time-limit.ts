import type { Kernel } from "@secure-exec/core";
import { SIGKILL, signalPid } from "./kernel-internals.js";

/**
 * Ends any guest process that has run longer than limits.cpuTimeMs.
 *
 * secure-exec 0.2.1 cannot meter CPU time per isolate or per WebAssembly
 * command (its own cpuTimeLimitMs is a wall-clock deadline, and is not
 * reachable through the kernel API), so the sidecar bounds run time
 * instead: a process that sleeps counts as well as one that spins.
 * Interactive shells are exempt; the commands run in them are not. An
 * exec() and everything it starts answer to the exec's own time limit
 * instead (limits.execTimeoutMs or the call's timeout).
 */
export class RunTimeLimit {
  private readonly exempt = new Set<number>();
  /** Roots of process trees bounded by something else (exec's own timeout). */
  private readonly boundedTrees = new Set<number>();
  /** pid → when the limit ended it; kept a minute for whoever reports the exit. */
  private readonly fired = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly kernel: Kernel,
    private readonly limitMs: number,
  ) {}

  start(): void {
    const period = Math.max(50, Math.min(1000, Math.floor(this.limitMs / 4)));
    this.timer = setInterval(() => this.sweep(), period);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** This process alone is exempt (an interactive shell). */
  exemptPid(pid: number): void {
    this.exempt.add(pid);
  }

  /** This process and all it starts are bounded elsewhere until `release`. */
  exemptTree(pid: number): () => void {
    this.boundedTrees.add(pid);
    return () => this.boundedTrees.delete(pid);
  }

  /** Whether the limit ended this process (and forgets it). */
  takeFired(pid: number): boolean {
    return this.fired.delete(pid);
  }

  private sweep(): void {
    const now = Date.now();
    const processes = this.kernel.processes;
    const inBoundedTree = (pid: number): boolean => {
      // Walk up the parent chain (bounded, in case of a cycle).
      for (let at: number | undefined = pid, depth = 0; at !== undefined && depth < 64; depth++) {
        if (this.boundedTrees.has(at)) return true;
        const parent: number | undefined = processes.get(at)?.ppid;
        at = parent === at ? undefined : parent;
      }
      return false;
    };
    for (const info of processes.values()) {
      if (info.status === "exited") {
        this.exempt.delete(info.pid);
        continue;
      }
      if (this.exempt.has(info.pid) || this.fired.has(info.pid)) continue;
      if (now - info.startTime > this.limitMs && !inBoundedTree(info.pid)) {
        this.fired.set(info.pid, now);
        signalPid(this.kernel, info.pid, SIGKILL);
      }
    }
    for (const [pid, at] of this.fired) {
      if (now - at > 60_000) this.fired.delete(pid);
    }
  }
}
