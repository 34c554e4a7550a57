import { RpcError } from "@agentos/proto";

export type PermissionReply = "once" | "always" | "reject";

export const PERMISSION_REPLIES: readonly PermissionReply[] = ["once", "always", "reject"];

/** Permission requests waiting at once per session, beyond which the default reply is given. */
const PENDING_MAX = 64;

interface Pending {
  resolve: (reply: PermissionReply | "cancelled") => void;
  timer: NodeJS.Timeout;
}

/**
 * The permission requests of one session that wait for the user. Each ends
 * exactly once: with the user's reply, the default reply (no handler, or
 * nobody answered in time), or "cancelled" (the turn was cancelled or the
 * session ended).
 */
export class PermissionRequests {
  private readonly pending = new Map<string, Pending>();
  private counter = 0;

  constructor(
    private readonly defaultReply: PermissionReply,
    private readonly timeoutMs: number,
  ) {}

  open(signal: AbortSignal): { id: string; reply: Promise<PermissionReply | "cancelled"> } {
    const id = `permission-${++this.counter}`;
    const reply = new Promise<PermissionReply | "cancelled">((resolve) => {
      const timer = setTimeout(() => this.settle(id, this.defaultReply), this.timeoutMs);
      this.pending.set(id, { resolve, timer });
    });
    signal.addEventListener("abort", () => this.settle(id, "cancelled"), { once: true });
    if (this.pending.size > PENDING_MAX) this.settle(id, this.defaultReply);
    return { id, reply };
  }

  respond(id: string, reply: PermissionReply): void {
    if (!this.pending.has(id)) {
      throw new RpcError(
        "NOT_FOUND",
        `no pending permission request "${id}": it was answered, cancelled, or timed out (after ${this.timeoutMs} ms the default reply "${this.defaultReply}" is given)`,
      );
    }
    this.settle(id, reply);
  }

  applyDefault(id: string): void {
    this.settle(id, this.defaultReply);
  }

  cancelAll(): void {
    for (const id of [...this.pending.keys()]) this.settle(id, "cancelled");
  }

  private settle(id: string, reply: PermissionReply | "cancelled"): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(reply);
  }
}
