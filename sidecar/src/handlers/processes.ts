import { type ProcessTreeNode, RpcError, type SpawnedProcessInfo, type ProcessInfo as WireProcessInfo } from "@agentos/proto";
import type { ProcessInfo } from "@secure-exec/core";
import { fromGuestError } from "../errors.js";
import type { ProcessServiceHandler } from "../generated/handlers.js";
import type { GuestProcess, ProcessExitInfo } from "../vm/processes.js";
import type { VmRegistry } from "../vm-registry.js";
import { streamOutput } from "./output-stream.js";

export function createProcessHandlers(registry: VmRegistry): ProcessServiceHandler {
  return {
    async exec(request) {
      return registry.get(request.vmId).processes.exec(request.command, {
        env: request.env,
        cwd: request.cwd || undefined,
        stdin: request.stdin,
        timeoutMs: request.timeoutMs,
      });
    },
    spawn(request) {
      const process = registry.get(request.vmId).processes.spawn(request.command, request.args, {
        env: request.env,
        cwd: request.cwd || undefined,
      });
      return { pid: process.pid };
    },
    writeProcessStdin(request) {
      const process = running(registry.get(request.vmId).processes.get(request.pid));
      try {
        process.handle.writeStdin(request.data);
      } catch (error) {
        if ((error as { code?: string }).code === "ESRCH") throw stdinClosed(request.pid);
        throw fromGuestError(error, `write to the stdin of process ${request.pid}`);
      }
      return {};
    },
    closeProcessStdin(request) {
      const process = registry.get(request.vmId).processes.get(request.pid);
      if (!process.exit) process.handle.closeStdin();
      return {};
    },
    onProcessStdout(request, stream) {
      const vm = registry.get(request.vmId);
      return streamOutput(vm.processes.get(request.pid).stdout, stream, vm.limits.maxOutputBytes);
    },
    onProcessStderr(request, stream) {
      const vm = registry.get(request.vmId);
      return streamOutput(vm.processes.get(request.pid).stderr, stream, vm.limits.maxOutputBytes);
    },
    async onProcessExit(request, stream) {
      const process = registry.get(request.vmId).processes.get(request.pid);
      const exit = await untilAborted(process.exited, stream.signal);
      if (exit) stream.send({ exitCode: exit.exitCode, limit: exit.limit ?? "" });
    },
    async waitProcess(request, context) {
      const process = registry.get(request.vmId).processes.get(request.pid);
      const exit = await untilAborted(process.exited, context.signal);
      if (!exit) throw new RpcError("CANCELLED", `waiting for process ${request.pid} was cancelled`);
      return { exitCode: exit.exitCode, limit: exit.limit ?? "" };
    },
    listProcesses(request) {
      return { processes: registry.get(request.vmId).processes.list().map(spawnedInfo) };
    },
    getProcess(request) {
      return { process: spawnedInfo(registry.get(request.vmId).processes.get(request.pid)) };
    },
    allProcesses(request) {
      return { processes: registry.get(request.vmId).allProcesses().map(wireProcessInfo) };
    },
    processTree(request) {
      const all = registry.get(request.vmId).allProcesses();
      const nodes = new Map<number, ProcessTreeNode>();
      for (const info of all) nodes.set(info.pid, { process: wireProcessInfo(info), children: [] });
      const roots: ProcessTreeNode[] = [];
      for (const info of all) {
        const node = nodes.get(info.pid) as ProcessTreeNode;
        const parent = info.ppid !== info.pid ? nodes.get(info.ppid) : undefined;
        if (parent) parent.children.push(node);
        else roots.push(node);
      }
      return { roots };
    },
    stopProcess(request) {
      registry.get(request.vmId).processes.stop(request.pid);
      return {};
    },
    killProcess(request) {
      registry.get(request.vmId).processes.kill(request.pid);
      return {};
    },
    async fetch(request) {
      const response = await registry.get(request.vmId).fetch({
        port: request.port,
        method: request.method,
        path: request.path,
        headers: request.headers.map((h) => [h.name, h.value]),
        body: request.body,
      });
      return {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers.map(([name, value]) => ({ name, value })),
        body: response.body,
      };
    },
  };
}

function running(process: GuestProcess): GuestProcess {
  if (process.exit) throw stdinClosed(process.pid);
  return process;
}

function stdinClosed(pid: number): RpcError {
  return new RpcError("FAILED_PRECONDITION", `process ${pid} has exited; its stdin is closed`, { errno: "EPIPE" });
}

function spawnedInfo(process: GuestProcess): SpawnedProcessInfo {
  return {
    pid: process.pid,
    command: process.command,
    args: process.args,
    running: process.exit === undefined,
    exitCode: process.exit?.exitCode,
  };
}

function wireProcessInfo(info: ProcessInfo): WireProcessInfo {
  return {
    pid: info.pid,
    ppid: info.ppid,
    pgid: info.pgid,
    sid: info.sid,
    driver: info.driver,
    command: info.command,
    args: info.args,
    cwd: info.cwd,
    status: info.status,
    exitCode: info.exitCode ?? undefined,
    startTime: info.startTime,
    exitTime: info.exitTime ?? undefined,
  };
}

/** The exit, or undefined if the signal aborts first. */
function untilAborted(exited: Promise<ProcessExitInfo>, signal: AbortSignal): Promise<ProcessExitInfo | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    exited.then((exit) => {
      signal.removeEventListener("abort", onAbort);
      resolve(exit);
    });
  });
}
