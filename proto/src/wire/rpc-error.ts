import { ErrorCode, type ErrorInfo } from "../generated/agentos/v1/error.js";

/** The error codes as names, e.g. "NOT_FOUND" (see proto/agentos/v1/error.proto). */
export type ErrorCodeName = Exclude<keyof typeof ErrorCode, "UNSPECIFIED">;

export interface RpcErrorOptions {
  /** POSIX errno name ("ENOENT", "EACCES", ...). */
  errno?: string;
  /** The limit that fired, named as in Limits ("cpu_time_ms", ...). */
  limit?: string;
  cause?: unknown;
}

/** A typed error: a code to switch on, an errno where POSIX has one, a message for a person. */
export class RpcError extends Error {
  readonly code: ErrorCodeName;
  readonly errno?: string;
  readonly limit?: string;

  constructor(code: ErrorCodeName, message: string, options: RpcErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RpcError";
    this.code = code;
    if (options.errno) this.errno = options.errno;
    if (options.limit) this.limit = options.limit;
  }
}

export function errorCodeName(code: ErrorCode): ErrorCodeName {
  const name = ErrorCode[code] as keyof typeof ErrorCode | undefined;
  return name === undefined || name === "UNSPECIFIED" ? "INTERNAL" : name;
}

/** The wire form of any thrown value. Anything that is not an RpcError is INTERNAL. */
export function toErrorInfo(error: unknown): ErrorInfo {
  if (error instanceof RpcError) {
    return { code: ErrorCode[error.code], errno: error.errno ?? "", message: error.message, limit: error.limit ?? "" };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: ErrorCode.INTERNAL, errno: "", message: `internal error: ${message}`, limit: "" };
}

/** The RpcError a wire ErrorInfo stands for. */
export function fromErrorInfo(info: ErrorInfo): RpcError {
  return new RpcError(errorCodeName(info.code), info.message, { errno: info.errno, limit: info.limit });
}
