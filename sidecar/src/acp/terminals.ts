import type * as acp from "@agentclientprotocol/sdk";
import { RpcError } from "@agentos/proto";
import type { ManagedProcess } from "@secure-exec/core";
import type { Vm } from "../vm/vm.js";

/** Terminals one session may hold at once. */
const TERMINALS_MAX = 16;
/** Output kept per terminal when the agent gives no outputByteLimit. */
const DEFAULT_OUTPUT_BYTES = 1024 * 1024;

interface Terminal {
  handle: ManagedProcess;
  output: Buffer;
  truncated: boolean;
  limit: number;
  exit?: acp.TerminalExitStatus;
  exited: Promise<acp.TerminalExitStatus>;
}

/**
 * The ACP terminal/* methods against the VM: commands the agent runs through
 * the client. Each runs in the VM under the per-process run-time limit; its
 * output is kept up to the agent's outputByteLimit (the VM's output limit at
 * most), dropping from the start as ACP specifies.
 */
export class Terminals {
  private readonly terminals = new Map<string, Terminal>();
  private counter = 0;

  constructor(
    private readonly vm: Vm,
    private readonly cwd: string,
  ) {}

  create(params: acp.CreateTerminalRequest): acp.CreateTerminalResponse {
    if (this.terminals.size >= TERMINALS_MAX) {
      throw new RpcError("RESOURCE_EXHAUSTED", `a session may hold at most ${TERMINALS_MAX} terminals; release one first`);
    }
    const limit = Math.min(params.outputByteLimit ?? DEFAULT_OUTPUT_BYTES, this.vm.limits.maxOutputBytes);
    const env = Object.fromEntries((params.env ?? []).map((v) => [v.name, v.value]));
    const [command, args] = params.args?.length ? [params.command, params.args] : ["sh", ["-c", params.command]];
    const id = `terminal-${++this.counter}`;
    let terminal: Terminal | undefined;
    const append = (data: Uint8Array) => {
      if (!terminal) return;
      const joined = Buffer.concat([terminal.output, data]);
      if (joined.length > terminal.limit) {
        terminal.truncated = true;
        terminal.output = cutAtCharBoundary(joined, joined.length - terminal.limit);
      } else {
        terminal.output = joined;
      }
    };
    const handle = this.vm.processes.startService(command, args, {
      env,
      cwd: params.cwd ?? this.cwd,
      onStdout: append,
      onStderr: append,
    });
    const exited = handle.wait().then(
      (exitCode): acp.TerminalExitStatus => {
        const status = { exitCode, signal: null };
        if (terminal) terminal.exit = status;
        return status;
      },
      (): acp.TerminalExitStatus => ({ exitCode: null, signal: "SIGKILL" }),
    );
    terminal = { handle, output: Buffer.alloc(0), truncated: false, limit, exited };
    this.terminals.set(id, terminal);
    return { terminalId: id };
  }

  output(id: string): acp.TerminalOutputResponse {
    const terminal = this.get(id);
    return {
      output: terminal.output.toString("utf8"),
      truncated: terminal.truncated,
      ...(terminal.exit ? { exitStatus: terminal.exit } : {}),
    };
  }

  async waitForExit(id: string, signal: AbortSignal): Promise<acp.WaitForTerminalExitResponse> {
    const terminal = this.get(id);
    const aborted = new Promise<never>((_, reject) =>
      signal.addEventListener("abort", () => reject(new RpcError("CANCELLED", "waiting for the terminal was cancelled")), {
        once: true,
      }),
    );
    return Promise.race([terminal.exited, aborted]);
  }

  kill(id: string): acp.KillTerminalResponse {
    const terminal = this.get(id);
    if (!terminal.exit) this.vm.processes.killTree(terminal.handle.pid);
    return {};
  }

  release(id: string): acp.ReleaseTerminalResponse {
    this.kill(id);
    this.terminals.delete(id);
    return {};
  }

  releaseAll(): void {
    for (const id of [...this.terminals.keys()]) {
      try {
        this.release(id);
      } catch {}
    }
  }

  private get(id: string): Terminal {
    const terminal = this.terminals.get(id);
    if (!terminal) throw new RpcError("NOT_FOUND", `no terminal "${id}" in this session (released?)`);
    return terminal;
  }
}

/** `buffer` without its first `drop` bytes, moved forward to a UTF-8 character start. */
function cutAtCharBoundary(buffer: Buffer, drop: number): Buffer {
  let at = drop;
  while (at < buffer.length && (buffer[at] & 0xc0) === 0x80) at++;
  return buffer.subarray(at);
}
