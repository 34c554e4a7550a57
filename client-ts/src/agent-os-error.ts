import { type ErrorCodeName, type ErrorInfo, errorCodeName, RpcError } from "@agentos/proto";

export type AgentOsErrorCode = ErrorCodeName;

/**
 * Every failure of an AgentOs call. Switch on `code`; `errno` names the
 * POSIX error where one applies; `limit` names the limit that fired.
 *
 * Codes: INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED,
 * RESOURCE_EXHAUSTED, TIMEOUT, VM_DISPOSED, FAILED_PRECONDITION,
 * UNIMPLEMENTED, UNAVAILABLE, CANCELLED, PROTOCOL_ERROR, VERSION_MISMATCH,
 * INTERNAL (see proto/agentos/v1/error.proto).
 */
export class AgentOsError extends RpcError {
  constructor(code: AgentOsErrorCode, message: string, options?: { errno?: string; limit?: string; cause?: unknown }) {
    super(code, message, options);
    this.name = "AgentOsError";
  }

  static fromInfo(info: ErrorInfo): AgentOsError {
    return new AgentOsError(errorCodeName(info.code), info.message, {
      errno: info.errno || undefined,
      limit: info.limit || undefined,
    });
  }
}
