import type { Limits } from "@agentos/proto";
import { invalidArgument } from "../errors.js";

/** Every limit a VM enforces, with defaults filled in. Nothing is unbounded. */
export interface ResolvedLimits {
  memoryMib: number;
  cpuTimeMs: number;
  execTimeoutMs: number;
  maxProcesses: number;
  maxOpenFiles: number;
  maxSockets: number;
  maxOutputBytes: number;
  maxFilesystemBytes: number;
}

/** secure-exec 0.2.1 refuses more open fds per process than this, whatever we ask. */
export const RUNTIME_MAX_OPEN_FILES = 256;

/** Modelled on Cloudflare Workers: small by default, raised by configuration. */
export const DEFAULT_LIMITS: Readonly<ResolvedLimits> = Object.freeze({
  memoryMib: 128,
  cpuTimeMs: 30_000,
  execTimeoutMs: 30_000,
  maxProcesses: 64,
  maxOpenFiles: RUNTIME_MAX_OPEN_FILES,
  maxSockets: 128,
  maxOutputBytes: 1024 * 1024,
  maxFilesystemBytes: 256 * 1024 * 1024,
});

/** The wire names of the limits, as error.limit and in docs. */
export const LIMIT_NAMES = {
  memoryMib: "memory_mib",
  cpuTimeMs: "cpu_time_ms",
  execTimeoutMs: "exec_timeout_ms",
  maxProcesses: "max_processes",
  maxOpenFiles: "max_open_files",
  maxSockets: "max_sockets",
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
  if (resolved.maxOpenFiles > RUNTIME_MAX_OPEN_FILES) {
    throw invalidArgument(
      `limits.maxOpenFiles is at most ${RUNTIME_MAX_OPEN_FILES} (the runtime's own cap per process); got ${resolved.maxOpenFiles}`,
    );
  }
  return resolved;
}
