import { CreateVmConfig, type Limits } from "@agentos/proto";
import { ClientForwarders } from "../generated/forwarders.js";
import type { VmServiceHandler } from "../generated/handlers.js";
import type { ResolvedLimits } from "../vm/limits.js";
import type { VmRegistry } from "../vm-registry.js";

export function createVmHandlers(registry: VmRegistry): VmServiceHandler {
  return {
    async create(request) {
      const vm = await registry.create(request.config ?? CreateVmConfig.fromPartial({}));
      return { vmId: vm.id, limits: wireLimits(vm.limits) };
    },
    async dispose(request) {
      await registry.dispose(request.vmId);
      return {};
    },
    async pingClient(request, context) {
      const started = performance.now();
      const answer = await new ClientForwarders(context.peer).ping({ nonce: request.nonce }, { signal: context.signal });
      return { nonce: answer.nonce, roundTripMs: performance.now() - started };
    },
  };
}

function wireLimits(limits: ResolvedLimits): Limits {
  return {
    memoryMib: limits.memoryMib,
    cpuTimeMs: limits.cpuTimeMs,
    execTimeoutMs: limits.execTimeoutMs,
    maxProcesses: limits.maxProcesses,
    maxOutputBytes: limits.maxOutputBytes,
    maxFilesystemBytes: limits.maxFilesystemBytes,
  };
}
