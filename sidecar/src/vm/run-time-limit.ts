import type { Kernel } from "@secure-exec/core";
import { SIGKILL, signalPid } from "./kernel-internals.js";

/**
 * Ends any guest process that has run longer than limits.cpuTimeMs.
 *
 * secure-exec 0.2.1 cannot meter CPU time per isolate or per WebAssembly
 * command (its own cpuTimeLimitMs is a wall-clock deadline, and is not
 * reachable through the kernel API), so the sidecar bounds run time
 * instead: a process that sleeps counts as well as one that spins.
 * Interactive shells are exempt; the commands run in them are not.
 */
export class RunTimeLimit {
  private readonly exempt = new Set<number>();
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

  exemptPid(pid: number): void {
    this.exempt.add(pid);
  }

  /** Whether the limit ended this process (and forgets it). */
  takeFired(pid: number): boolean {
    return this.fired.delete(pid);
  }

  private sweep(): void {
    const now = Date.now();
    for (const info of this.kernel.processes.values()) {
      if (info.status === "exited") {
        this.exempt.delete(info.pid);
        continue;
      }
      if (this.exempt.has(info.pid) || this.fired.has(info.pid)) continue;
      if (now - info.startTime > this.limitMs) {
        this.fired.set(info.pid, now);
        signalPid(this.kernel, info.pid, SIGKILL);
      }
    }
    for (const [pid, at] of this.fired) {
      if (now - at > 60_000) this.fired.delete(pid);
    }
  }
}
