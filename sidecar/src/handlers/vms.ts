import { CreateVmConfig, type Limits } from "@agentos/proto";
import { writeBaseInstructions } from "../acp/instructions.js";
import type { SessionRegistry } from "../acp/session-registry.js";
import { ClientForwarders } from "../generated/forwarders.js";
import type { VmServiceHandler } from "../generated/handlers.js";
import type { ResolvedLimits } from "../vm/limits.js";
import type { VmRegistry } from "../vm-registry.js";

export function createVmHandlers(registry: VmRegistry, sessions: SessionRegistry): VmServiceHandler {
  return {
    async create(request) {
      const vm = await registry.create(request.config ?? CreateVmConfig.fromPartial({}));
      try {
        await writeBaseInstructions(vm, request.config?.additionalInstructions ?? "");
      } catch (error) {
        await registry.dispose(vm.id).catch(() => {});
        throw error;
      }
      return { vmId: vm.id, limits: wireLimits(vm.limits) };
    },
    async dispose(request) {
      sessions.closeVm(request.vmId);
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
    maxOpenFiles: limits.maxOpenFiles,
    maxSockets: limits.maxSockets,
    maxOutputBytes: limits.maxOutputBytes,
    maxFilesystemBytes: limits.maxFilesystemBytes,
  };
}
