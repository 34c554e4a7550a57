import {
  type CreateVmConfig,
  NetworkRule_Effect,
  PermissionEffect,
  type SoftwarePackage,
  type Limits as WireLimits,
  type PermissionRule as WireRule,
} from "@agentos/proto";
import { AgentOsError } from "./agent-os-error.js";
import { toWireToolKit } from "./host-tools.js";
import type {
  AgentOsOptions,
  AgentSoftwareDescriptor,
  CommandPackage,
  Limits,
  PermissionRule,
  SoftwareInput,
  WasmCommandsDescriptor,
} from "./types.js";

/** AgentOs.create() options in their wire form. Only shape changes here; the sidecar validates. */
export function toCreateVmConfig(options: AgentOsOptions): CreateVmConfig {
  if (options.rootFilesystem !== undefined) {
    throw new AgentOsError("UNIMPLEMENTED", "AgentOs.create({ rootFilesystem }) is not available in this version of agentOS yet");
  }
  const permissions = options.permissions ?? {};
  for (const [scope, value] of Object.entries(permissions)) {
    if (typeof value === "function") {
      throw new AgentOsError(
        "INVALID_ARGUMENT",
        `permissions.${scope} is a function; permission checks run in the sidecar, so they are given as rules ({ effect, pattern })`,
      );
    }
    if (!SCOPES.includes(scope as (typeof SCOPES)[number]) && scope !== "defaults") {
      throw new AgentOsError("INVALID_ARGUMENT", `permissions.${scope} is not a scope; scopes are ${SCOPES.join(", ")} (and defaults)`);
    }
  }
  const defaults = permissions.defaults ?? {};
  return {
    software: flatten(options.software ?? []).map(toSoftwarePackage),
    env: options.env ?? {},
    limits: options.limits ? toWireLimits(options.limits) : undefined,
    permissions: {
      network: (permissions.network ?? []).map((rule) => ({
        effect: networkEffect(rule.effect),
        pattern: rule.pattern,
        ops: rule.ops ?? [],
      })),
      fs: (permissions.fs ?? []).map(toRule),
      childProcess: (permissions.childProcess ?? []).map(toRule),
      env: (permissions.env ?? []).map(toRule),
      tool: (permissions.tool ?? []).map(toRule),
      defaults: {
        fs: effect(defaults.fs),
        network: effect(defaults.network),
        childProcess: effect(defaults.childProcess),
        env: effect(defaults.env),
        tool: effect(defaults.tool),
      },
    },
    network: { allow: options.network?.allow ?? [], dnsOverrides: options.network?.dnsOverrides ?? {} },
    mounts: (options.mounts ?? []).map((mount) => ({
      path: mount.path,
      pluginId: mount.plugin?.id ?? "",
      configJson: JSON.stringify(mount.plugin?.config ?? {}),
      readOnly: mount.readOnly ?? false,
    })),
    loopbackExemptPorts: options.loopbackExemptPorts ?? [],
    moduleAccessCwd: options.moduleAccessCwd ?? "",
    additionalInstructions: options.additionalInstructions ?? "",
    toolKits: (options.toolKits ?? []).map(toWireToolKit),
  };
}

const SCOPES = ["fs", "network", "childProcess", "env", "tool"] as const;

function effect(value: "allow" | "deny" | undefined): PermissionEffect {
  if (value === "allow") return PermissionEffect.ALLOW;
  if (value === "deny") return PermissionEffect.DENY;
  return PermissionEffect.UNSPECIFIED;
}

function networkEffect(value: "allow" | "deny"): NetworkRule_Effect {
  if (value === "allow") return NetworkRule_Effect.ALLOW;
  if (value === "deny") return NetworkRule_Effect.DENY;
  return NetworkRule_Effect.UNSPECIFIED;
}

function toRule(rule: PermissionRule): WireRule {
  return { effect: effect(rule.effect), pattern: rule.pattern, ops: rule.ops ?? [] };
}

function flatten(software: SoftwareInput[]): Exclude<SoftwareInput, SoftwareInput[]>[] {
  return software.flatMap((entry) => (Array.isArray(entry) ? flatten(entry) : [entry]));
}

function toSoftwarePackage(entry: Exclude<SoftwareInput, SoftwareInput[]>): SoftwarePackage {
  if ("type" in entry && entry.type === "tool") {
    throw new AgentOsError("UNIMPLEMENTED", `software of type "tool" is not available in this version of agentOS yet`);
  }
  if ("type" in entry && entry.type === "agent") return toAgentPackage(entry as AgentSoftwareDescriptor);
  if ("type" in entry && entry.type === "wasm-commands") {
    const descriptor = entry as WasmCommandsDescriptor;
    return { name: descriptor.name ?? "", commandDirs: [descriptor.commandDir] };
  }
  const pkg = entry as CommandPackage;
  if (typeof pkg.commandDir !== "string") {
    throw new AgentOsError("INVALID_ARGUMENT", "a software entry has neither commandDir nor a known type (wasm-commands)");
  }
  return { name: pkg.name ?? "", commandDirs: [pkg.commandDir] };
}

function toAgentPackage(descriptor: AgentSoftwareDescriptor): SoftwarePackage {
  const agent = descriptor.agent;
  if (!agent || typeof agent.entry !== "string" || !Array.isArray(agent.packageRoots)) {
    throw new AgentOsError(
      "INVALID_ARGUMENT",
      `software "${descriptor.name ?? agent?.id ?? "?"}" is an agent descriptor without entry/packageRoots; use an agentOS agent package such as @agentos/agent-pi`,
    );
  }
  return {
    name: descriptor.name ?? agent.id,
    commandDirs: [],
    agent: {
      id: agent.id,
      acpAdapter: agent.acpAdapter,
      agentPackage: agent.agentPackage,
      packageRoots: agent.packageRoots.map((r) => ({ hostPath: r.hostPath, vmPath: r.vmPath })),
      entry: agent.entry,
      args: agent.args ?? [],
      env: agent.env ?? {},
      instructionsFlag: agent.instructionsFlag ?? "",
    },
  };
}

function toWireLimits(limits: Limits): WireLimits {
  return {
    memoryMib: limits.memoryMiB,
    cpuTimeMs: limits.cpuTimeMs,
    execTimeoutMs: limits.execTimeoutMs,
    maxProcesses: limits.maxProcesses,
    maxOpenFiles: limits.maxOpenFiles,
    maxSockets: limits.maxSockets,
    maxOutputBytes: limits.maxOutputBytes,
    maxFilesystemBytes: limits.maxFilesystemBytes,
  };
}
