import { RpcError } from "@agentos/proto";
import type { Kernel, ManagedProcess } from "@secure-exec/core";
import { fromGuestError, notFound } from "../errors.js";
import { HOME } from "./base-environment.js";
import { HeldOutput } from "./held-output.js";
import { SIGKILL, SIGTERM, signalTree } from "./kernel-internals.js";
import { LIMIT_NAMES, type ResolvedLimits } from "./limits.js";
import type { RunTimeLimit } from "./run-time-limit.js";
import { stripRuntimeNoise } from "./runtime-noise.js";

/** How a process ended. */
export interface ProcessExitInfo {
  exitCode: number;
  /** The limit that ended it, by its wire name ("cpu_time_ms"). */
  limit?: string;
}

/** Exit status of a process ended by a time limit, as `timeout(1)` reports it. */
export const TIME_LIMIT_EXIT_CODE = 124;

/** Exited processes kept for listProcesses/getProcess/waitProcess, oldest forgotten first. */
const EXITED_KEPT = 256;

export class GuestProcess {
  readonly stdout: HeldOutput;
  readonly stderr: HeldOutput;
  exit: ProcessExitInfo | undefined;
  readonly exited: Promise<ProcessExitInfo>;

  constructor(
    readonly pid: number,
    readonly command: string,
    readonly args: string[],
    readonly handle: ManagedProcess,
    maxHeldBytes: number,
    limit: RunTimeLimit,
  ) {
    this.stdout = new HeldOutput(maxHeldBytes);
    this.stderr = new HeldOutput(maxHeldBytes);
    this.exited = handle.wait().then((code) => {
      const exit: ProcessExitInfo = limit.takeFired(pid)
        ? { exitCode: TIME_LIMIT_EXIT_CODE, limit: LIMIT_NAMES.cpuTimeMs }
        : { exitCode: code };
      this.exit = exit;
      this.stdout.end();
      this.stderr.end();
      return exit;
    });
  }
}

export interface SpawnOptions {
  env: Record<string, string>;
  cwd: string | undefined;
}

export interface ServiceOptions extends SpawnOptions {
  onStdout: (data: Uint8Array) => void;
  onStderr: (data: Uint8Array) => void;
  longLived?: boolean;
}

export interface ExecOptions extends SpawnOptions {
  stdin: Uint8Array | undefined;
  timeoutMs: number | undefined;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
}

/** Processes started through the wire (spawn), and exec. */
export class ProcessRegistry {
  private readonly spawned = new Map<number, GuestProcess>();
  private readonly exitedOrder: number[] = [];

  constructor(
    private readonly kernel: Kernel,
    private readonly limits: ResolvedLimits,
    private readonly runTime: RunTimeLimit,
  ) {}

  spawn(command: string, args: string[], options: SpawnOptions): GuestProcess {
    if (!command) throw new RpcError("INVALID_ARGUMENT", "command is empty");
    let process: GuestProcess | undefined;
    let handle: ManagedProcess;
    try {
      handle = this.kernel.spawn(command, args, {
        env: options.env,
        cwd: options.cwd ?? HOME,
        streamStdin: true,
        onStdout: (data) => process?.stdout.push(data),
        onStderr: (data) => process?.stderr.push(stripRuntimeNoise(data)),
      });
    } catch (error) {
      throw this.spawnError(error, command);
    }
    process = new GuestProcess(handle.pid, command, args, handle, this.limits.maxOutputBytes, this.runTime);
    this.spawned.set(handle.pid, process);
    const pid = handle.pid;
    process.exited.then(() => this.rememberExited(pid));
    return process;
  }

  /**
   * A process the sidecar drives itself (an agent adapter, an ACP terminal):
   * its output goes to the callbacks and it is not listed with spawned
   * processes. With `longLived` it is exempt from the per-process run-time
   * limit; the commands it starts are not.
   */
  startService(command: string, args: string[], options: ServiceOptions): ManagedProcess {
    let handle: ManagedProcess;
    try {
      handle = this.kernel.spawn(command, args, {
        env: options.env,
        cwd: options.cwd ?? HOME,
        streamStdin: true,
        onStdout: options.onStdout,
        onStderr: (data) => options.onStderr(stripRuntimeNoise(data)),
      });
    } catch (error) {
      throw this.spawnError(error, command);
    }
    if (options.longLived) this.runTime.exemptPid(handle.pid);
    return handle;
  }

  /** Ends a process and everything it started. */
  killTree(pid: number): void {
    signalTree(this.kernel, pid, SIGKILL);
  }

  /** A process started with spawn; NOT_FOUND for any other pid. */
  get(pid: number): GuestProcess {
    const process = this.spawned.get(pid);
    if (!process) throw notFound(`no process with pid ${pid} was spawned in this VM (or it exited long ago)`, "ESRCH");
    return process;
  }

  list(): GuestProcess[] {
    return [...this.spawned.values()];
  }

  /** SIGTERM to a spawned process, or to any live process of the VM (allProcesses). */
  stop(pid: number): void {
    const process = this.spawned.get(pid);
    if (process) {
      if (!process.exit) process.handle.kill(SIGTERM);
      return;
    }
    this.signalKernelProcess(pid, SIGTERM);
  }

  /** SIGKILL to a process and what it started: spawned, or any live process of the VM. */
  kill(pid: number): void {
    const process = this.spawned.get(pid);
    if (process) {
      if (!process.exit) signalTree(this.kernel, pid, SIGKILL);
      return;
    }
    this.signalKernelProcess(pid, SIGKILL);
  }

  private signalKernelProcess(pid: number, signal: number): void {
    const info = this.kernel.processes.get(pid);
    if (!info) throw notFound(`no process with pid ${pid} in this VM`, "ESRCH");
    if (info.status !== "exited") signalTree(this.kernel, pid, signal);
  }

  /**
   * Runs `sh -c command`, keeping at most limits.maxOutputBytes of each
   * stream. The WebAssembly shell starts in "/" whatever its process cwd
   * (a runtime bug, see NOTES.md), so the script changes to the working
   * directory first: the shell, its builtins, redirections, globs and the
   * Node processes it starts all see it.
   */
  async exec(command: string, options: ExecOptions): Promise<ExecResult> {
    const max = this.limits.maxOutputBytes;
    const out = new BoundedText(max);
    const err = new BoundedText(max);
    const cwd = options.cwd ?? HOME;
    let handle: ManagedProcess;
    try {
      handle = this.kernel.spawn("sh", ["-c", `cd -- ${shellQuote(cwd)} || exit 1\n${command}`], {
        env: options.env,
        cwd,
        onStdout: (data) => out.push(data),
        onStderr: (data) => err.push(stripRuntimeNoise(data)),
      });
    } catch (error) {
      throw this.spawnError(error, "sh");
    }
    if (options.stdin && options.stdin.length > 0) handle.writeStdin(options.stdin);
    handle.closeStdin();
    const timeoutMs = options.timeoutMs ?? this.limits.execTimeoutMs;
    const releaseTree = this.runTime.exemptTree(handle.pid);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      signalTree(this.kernel, handle.pid, SIGKILL);
    }, timeoutMs);
    let exitCode: number;
    try {
      exitCode = await handle.wait();
    } finally {
      clearTimeout(timer);
      releaseTree();
    }
    if (timedOut) {
      const fromOption = options.timeoutMs !== undefined;
      throw new RpcError(
        "TIMEOUT",
        `exec ran longer than ${timeoutMs} ms (${fromOption ? "the call's timeout option" : "limits.execTimeoutMs"}) and was killed: ${truncate(command, 200)}`,
        { errno: "ETIMEDOUT", limit: fromOption ? undefined : LIMIT_NAMES.execTimeoutMs },
      );
    }
    return {
      exitCode,
      stdout: out.text(),
      stderr: err.text(),
      stdoutTruncated: out.truncated,
      stderrTruncated: err.truncated,
    };
  }

  /** Kills every process this registry started, and everything they started. */
  killAll(): void {
    for (const process of this.spawned.values()) {
      if (!process.exit) signalTree(this.kernel, process.pid, SIGKILL);
    }
  }

  private spawnError(error: unknown, command: string): RpcError {
    const errno = (error as { code?: string })?.code;
    if (errno === "EAGAIN") {
      return new RpcError(
        "RESOURCE_EXHAUSTED",
        `cannot start ${command}: the VM already runs limits.maxProcesses (${this.limits.maxProcesses}) processes`,
        { errno, limit: LIMIT_NAMES.maxProcesses },
      );
    }
    if (errno === "ENOENT") return notFound(`command not found: ${command}`, "ENOENT");
    return fromGuestError(error, `start ${command}`);
  }

  private rememberExited(pid: number): void {
    this.exitedOrder.push(pid);
    while (this.exitedOrder.length > EXITED_KEPT) {
      this.spawned.delete(this.exitedOrder.shift() as number);
    }
  }
}

/** Collects output up to a byte limit and remembers whether more came. */
class BoundedText {
  private chunks: Uint8Array[] = [];
  private bytes = 0;
  truncated = false;

  constructor(private readonly max: number) {}

  push(data: Uint8Array): void {
    const room = this.max - this.bytes;
    if (room <= 0) {
      if (data.length > 0) this.truncated = true;
      return;
    }
    const kept = data.length <= room ? data.slice() : data.slice(0, room);
    if (kept.length < data.length) this.truncated = true;
    this.chunks.push(kept);
    this.bytes += kept.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
