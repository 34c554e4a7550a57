import { type ErrorCodeName, RpcError } from "@agentos/proto";

/** POSIX errno → the error code callers switch on. */
const CODE_BY_ERRNO: Record<string, ErrorCodeName> = {
  ENOENT: "NOT_FOUND",
  ESRCH: "NOT_FOUND",
  EEXIST: "ALREADY_EXISTS",
  EACCES: "PERMISSION_DENIED",
  EPERM: "PERMISSION_DENIED",
  EROFS: "PERMISSION_DENIED",
  EINVAL: "INVALID_ARGUMENT",
  EBADF: "INVALID_ARGUMENT",
  ENAMETOOLONG: "INVALID_ARGUMENT",
  ENOTDIR: "FAILED_PRECONDITION",
  EISDIR: "FAILED_PRECONDITION",
  ENOTEMPTY: "FAILED_PRECONDITION",
  EXDEV: "FAILED_PRECONDITION",
  ELOOP: "FAILED_PRECONDITION",
  EBUSY: "FAILED_PRECONDITION",
  EPIPE: "FAILED_PRECONDITION",
  EAGAIN: "RESOURCE_EXHAUSTED",
  EMFILE: "RESOURCE_EXHAUSTED",
  ENFILE: "RESOURCE_EXHAUSTED",
  ENOSPC: "RESOURCE_EXHAUSTED",
  ENOMEM: "RESOURCE_EXHAUSTED",
  ETIMEDOUT: "TIMEOUT",
  ECONNREFUSED: "UNAVAILABLE",
  ENOSYS: "UNIMPLEMENTED",
};

/** What a person can do about each errno, appended to the message. */
const HINT_BY_ERRNO: Record<string, string> = {
  ENOENT: "no such file or directory",
  EEXIST: "it already exists",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "the filesystem is mounted read-only",
  ENOTDIR: "a component of the path is not a directory",
  EISDIR: "it is a directory",
  ENOTEMPTY: "the directory is not empty (pass recursive: true to delete its contents)",
  EXDEV: "source and destination are on different mounts",
  ENOSPC: "the VM's filesystem is full (raise limits.maxFilesystemBytes)",
  EAGAIN: "a limit was reached",
  EINVAL: "invalid argument",
  EBUSY: "it is in use",
};

interface ErrnoLike {
  code?: unknown;
  message?: unknown;
}

/**
 * A typed error for a failure inside the VM. `action` says what was being
 * done ("read /etc/hosts") so the message stands on its own.
 */
export function fromGuestError(error: unknown, action: string): RpcError {
  if (error instanceof RpcError) return error;
  const errno = typeof (error as ErrnoLike)?.code === "string" ? ((error as ErrnoLike).code as string) : "";
  const detail = error instanceof Error ? error.message : String(error);
  const code = CODE_BY_ERRNO[errno];
  if (!code) {
    return new RpcError("INTERNAL", `cannot ${action}: ${detail}`, { errno: errno || undefined, cause: error });
  }
  const hint = HINT_BY_ERRNO[errno];
  const limit = errno === "ENOSPC" ? "max_filesystem_bytes" : undefined;
  return new RpcError(code, `cannot ${action}: ${hint ?? detail} (${errno})`, { errno, limit, cause: error });
}

/** A typed error for a POSIX failure the sidecar detects itself ("ENOTDIR" while creating /a/b). */
export function posixError(errno: string, action: string): RpcError {
  return fromGuestError(Object.assign(new Error(errno), { code: errno }), action);
}

export function invalidArgument(message: string): RpcError {
  return new RpcError("INVALID_ARGUMENT", message, { errno: "EINVAL" });
}

export function notFound(message: string, errno?: string): RpcError {
  return new RpcError("NOT_FOUND", message, { errno });
}
