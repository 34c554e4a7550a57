import type { ShellServiceHandler } from "../generated/handlers.js";
import type { VmRegistry } from "../vm-registry.js";
import { streamOutput } from "./output-stream.js";

export function createShellHandlers(registry: VmRegistry): ShellServiceHandler {
  return {
    openShell(request) {
      const shell = registry.get(request.vmId).shells.open({
        command: request.command || "sh",
        args: request.args,
        env: request.env,
        cwd: request.cwd || undefined,
        cols: request.cols,
        rows: request.rows,
      });
      return { shellId: shell.id, pid: shell.handle.pid };
    },
    writeShell(request) {
      registry.get(request.vmId).shells.get(request.shellId).handle.write(request.data);
      return {};
    },
    onShellData(request, stream) {
      const vm = registry.get(request.vmId);
      return streamOutput(vm.shells.get(request.shellId).output, stream, vm.limits.maxOutputBytes);
    },
    resizeShell(request) {
      const shell = registry.get(request.vmId).shells.get(request.shellId);
      shell.handle.resize(request.cols, request.rows);
      return {};
    },
    closeShell(request) {
      registry.get(request.vmId).shells.close(request.shellId);
      return {};
    },
  };
}
