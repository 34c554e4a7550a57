import type { Limits } from "@agentos/proto";
import { RpcError } from "@agentos/proto";
import { invalidArgument } from "../errors.js";

/** Every limit a VM enforces, with defaults filled in. Nothing is unbounded. */
export interface ResolvedLimits {
  memoryMib: number;
  cpuTimeMs: number;
  execTimeoutMs: number;
  maxProcesses: number;
  maxOutputBytes: number;
  maxFilesystemBytes: number;
}

/** Modelled on Cloudflare Workers: small by default, raised by configuration. */
export const DEFAULT_LIMITS: Readonly<ResolvedLimits> = Object.freeze({
  memoryMib: 128,
  cpuTimeMs: 30_000,
  execTimeoutMs: 30_000,
  maxProcesses: 64,
  maxOutputBytes: 1024 * 1024,
  maxFilesystemBytes: 256 * 1024 * 1024,
});

/** The wire names of the limits, as error.limit and in docs. */
export const LIMIT_NAMES = {
  memoryMib: "memory_mib",
  cpuTimeMs: "cpu_time_ms",
  execTimeoutMs: "exec_timeout_ms",
  maxProcesses: "max_processes",
  maxOutputBytes: "max_output_bytes",
  maxFilesystemBytes: "max_filesystem_bytes",
} as const satisfies Record<keyof ResolvedLimits, string>;

export function resolveLimits(limits: Limits | undefined): ResolvedLimits {
  const resolved: ResolvedLimits = { ...DEFAULT_LIMITS };
  if (!limits) return resolved;
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof ResolvedLimits)[]) {
    const value = limits[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw invalidArgument(`limits.${key} must be a positive integer (got ${value}); limits are never unbounded, raise the value instead`);
    }
    resolved[key] = value;
  }
  // Refused rather than accepted and ignored: a limit the sidecar does not
  // enforce must not look as if it were.
  for (const key of ["maxOpenFiles", "maxSockets"] as const) {
    if (limits[key] !== undefined) {
      throw new RpcError("UNIMPLEMENTED", `limits.${key} is not enforced by this sidecar yet; leave it unset`, {
        limit: key === "maxOpenFiles" ? "max_open_files" : "max_sockets",
      });
    }
  }
  return resolved;
}
