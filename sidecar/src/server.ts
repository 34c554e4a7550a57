import type { Readable, Writable } from "node:stream";
import { SCHEMA_HASH } from "@agentos/proto";
import { SessionRegistry } from "./acp/session-registry.js";
import { ClientForwarders } from "./generated/forwarders.js";
import { createSidecarDispatcher } from "./generated/handlers.js";
import { createFilesystemHandlers } from "./handlers/files.js";
import { createProcessHandlers } from "./handlers/processes.js";
import { createSessionHandlers } from "./handlers/sessions.js";
import { createShellHandlers } from "./handlers/shells.js";
import { createVmHandlers } from "./handlers/vms.js";
import { type CloseReason, SidecarConnection } from "./transport/connection.js";
import { SIDECAR_VERSION } from "./version.js";
import { VmRegistry } from "./vm-registry.js";

export interface SidecarOptions {
  input: Readable;
  output: Writable;
  /** Largest frame accepted (default 16 MiB). */
  maxFrameBytes?: number;
  /** VMs held at once (default 64). */
  maxVms?: number;
  /** Diagnostics (never the wire). */
  log?: (message: string) => void;
}

export interface Sidecar {
  /** Resolves once the connection has closed and every VM is disposed. */
  readonly done: Promise<CloseReason>;
  /** Closes the connection and disposes every VM. */
  shutdown(): Promise<CloseReason>;
}

/** How long VMs get to dispose when the sidecar shuts down. */
const DISPOSE_GRACE_MS = 5_000;

/** Serves one client over a pair of streams. */
export function serve(options: SidecarOptions): Sidecar {
  const log = options.log ?? ((message: string) => process.stderr.write(`agentos-sidecar: ${message}\n`));
  let client: ClientForwarders | undefined;
  const registry = new VmRegistry({
    maxVms: options.maxVms,
    async callTool(vmId, toolkit, tool, inputJson, { signal }) {
      if (!client) return { ok: false, error: "no client is connected" };
      const answer = await client.callTool({ vmId, toolkit, tool, inputJson }, { signal });
      const outcome = answer.outcome;
      if (outcome?.$case === "resultJson") return { ok: true, resultJson: outcome.value };
      if (outcome?.$case === "invalidInput") return { ok: false, invalidInput: outcome.value };
      return { ok: false, error: outcome?.value ?? "the client gave no answer" };
    },
  });
  const sessions = new SessionRegistry({
    async offerPermission(vmId, sessionId, permissionId, params, description) {
      if (!client) return false;
      const answer = await client.requestPermission({
        vmId,
        sessionId,
        permissionId,
        paramsJson: JSON.stringify(params),
        description,
      });
      return answer.handled;
    },
    log,
  });
  const connection = new SidecarConnection({
    input: options.input,
    output: options.output,
    dispatcher: createSidecarDispatcher({
      vmService: createVmHandlers(registry, sessions),
      filesystemService: createFilesystemHandlers(registry),
      processService: createProcessHandlers(registry),
      shellService: createShellHandlers(registry),
      sessionService: createSessionHandlers(registry, sessions),
    }),
    version: SIDECAR_VERSION,
    schemaHash: SCHEMA_HASH,
    maxFrameBytes: options.maxFrameBytes,
    log,
  });
  client = new ClientForwarders(connection.peer);
  const done = connection.closed.then(async (reason) => {
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, DISPOSE_GRACE_MS).unref());
    await Promise.race([registry.disposeAll().catch((error) => log(`disposing VMs failed: ${error}`)), timeout]);
    return reason;
  });
  return {
    done,
    shutdown() {
      connection.close("shutdown");
      return done;
    },
  };
}
