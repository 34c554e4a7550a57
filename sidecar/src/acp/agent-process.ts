import { ndJsonStream, type Stream } from "@agentclientprotocol/sdk";
import type { ManagedProcess } from "@secure-exec/core";
import type { Vm } from "../vm/vm.js";

/** Stderr kept from an adapter, for the message when it fails. */
const STDERR_TAIL_BYTES = 4096;

export interface AgentProcess {
  readonly pid: number;
  /** ACP over the adapter's stdio (newline-delimited JSON-RPC). */
  readonly stream: Stream;
  /** Resolves with the exit code when the adapter has exited. */
  readonly exited: Promise<number>;
  /** The end of what the adapter wrote on stderr. */
  stderrTail(): string;
  kill(): void;
}

export interface AgentLaunch {
  entry: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

/** Starts an agent adapter inside the VM with `node` and wires its stdio up as an ACP stream. */
export function startAgentProcess(vm: Vm, launch: AgentLaunch, log: (line: string) => void): AgentProcess {
  let stderr = "";
  let push: ((chunk: Uint8Array) => void) | undefined;
  let end: (() => void) | undefined;
  const pending: Uint8Array[] = [];
  const decoder = new TextDecoder();
  const handle: ManagedProcess = vm.processes.startService("node", [launch.entry, ...launch.args], {
    env: launch.env,
    cwd: launch.cwd,
    longLived: true,
    onStdout: (data) => (push ? push(data.slice()) : pending.push(data.slice())),
    onStderr: (data) => {
      const text = decoder.decode(data, { stream: true });
      stderr = (stderr + text).slice(-STDERR_TAIL_BYTES);
      for (const line of text.split("\n")) if (line.trim()) log(line);
    },
  });
  const exited = handle.wait().then(
    (code) => code,
    () => -1,
  );
  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      push = (chunk) => controller.enqueue(chunk);
      end = () => {
        try {
          controller.close();
        } catch {}
      };
      for (const chunk of pending.splice(0)) push(chunk);
    },
  });
  void exited.then(() => end?.());
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      handle.writeStdin(chunk);
    },
    close() {
      handle.closeStdin();
    },
  });
  return {
    pid: handle.pid,
    stream: ndJsonStream(writable, readable),
    exited,
    stderrTail: () => stderr.trim(),
    kill: () => vm.processes.killTree(handle.pid),
  };
}
