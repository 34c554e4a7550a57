import type { Kernel, ShellHandle } from "@secure-exec/core";
import { fromGuestError, invalidArgument, notFound } from "../errors.js";
import { HOME } from "./base-environment.js";
import { HeldOutput } from "./held-output.js";
import { SIGKILL, signalTree } from "./kernel-internals.js";
import type { RunTimeLimit } from "./run-time-limit.js";
import { stripRuntimeNoise } from "./runtime-noise.js";

export interface OpenShellOptions {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string | undefined;
  cols: number | undefined;
  rows: number | undefined;
}

export class GuestShell {
  readonly output: HeldOutput;
  exitCode: number | undefined;

  constructor(
    readonly id: string,
    readonly handle: ShellHandle,
    maxHeldBytes: number,
  ) {
    this.output = new HeldOutput(maxHeldBytes);
    handle.onData = (data) => this.output.push(stripRuntimeNoise(data));
    handle.wait().then((code) => {
      this.exitCode = code;
      this.output.end();
    });
  }
}

/** Interactive shells on pseudo-terminals. */
export class ShellRegistry {
  private readonly shells = new Map<string, GuestShell>();
  private counter = 0;

  constructor(
    private readonly kernel: Kernel,
    private readonly maxHeldBytes: number,
    private readonly runTime: RunTimeLimit,
  ) {}

  open(options: OpenShellOptions): GuestShell {
    for (const [name, value] of [
      ["cols", options.cols],
      ["rows", options.rows],
    ] as const) {
      if (value !== undefined && (value < 1 || value > 10_000)) throw invalidArgument(`${name} must be between 1 and 10000`);
    }
    let handle: ShellHandle;
    try {
      handle = this.kernel.openShell({
        command: options.command,
        args: options.args,
        env: options.env,
        cwd: options.cwd ?? HOME,
        cols: options.cols,
        rows: options.rows,
      });
    } catch (error) {
      throw fromGuestError(error, `open a shell (${options.command})`);
    }
    // The shell waits for its user, which can be any length of time; what
    // runs inside it stays bounded.
    this.runTime.exemptPid(handle.pid);
    const shell = new GuestShell(`shell-${++this.counter}`, handle, this.maxHeldBytes);
    this.shells.set(shell.id, shell);
    return shell;
  }

  get(id: string): GuestShell {
    const shell = this.shells.get(id);
    if (!shell) throw notFound(`no shell ${id} in this VM (it may have been closed)`);
    return shell;
  }

  close(id: string): void {
    const shell = this.get(id);
    this.shells.delete(id);
    if (shell.exitCode === undefined) signalTree(this.kernel, shell.handle.pid, SIGKILL);
    shell.output.end();
  }

  closeAll(): void {
    for (const id of [...this.shells.keys()]) this.close(id);
  }
}
