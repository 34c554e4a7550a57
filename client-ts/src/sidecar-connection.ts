import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import {
  type Caller,
  type CallOptions,
  type Frame,
  FrameDecoder,
  FrameWriter,
  type MethodDescriptor,
  type RequestPermissionRequest,
  RpcPeer,
  SCHEMA_HASH,
  type StreamEndHandler,
  type Unsubscribe,
} from "@agentos/proto";
import { AgentOsError } from "./agent-os-error.js";
import { SidecarForwarders } from "./generated/forwarders.js";
import { createClientDispatcher } from "./generated/handlers.js";
import { type HostTool, runHostTool, type ToolKit } from "./host-tools.js";
import type { PermissionRequestHandler } from "./types.js";
import { CLIENT_VERSION } from "./version.js";

export interface SidecarOptions {
  /** Start a sidecar for this VM alone instead of sharing the process-wide one. */
  dedicated?: boolean;
  /** The sidecar command. Default: this Node running @agentos/sidecar. */
  command?: string;
  /** Arguments of the sidecar (e.g. ["--max-frame-bytes", "67108864"]), or of `command` when given. */
  args?: string[];
  /** Where the sidecar's own diagnostics go. Default "inherit" (this process's stderr). */
  stderr?: "inherit" | "ignore";
}

/** How long a starting sidecar has to answer the hello. */
const HELLO_TIMEOUT_MS = 30_000;

/** The process-wide sidecar: starting (`shared`), then started (`sharedConnection`). */
let shared: Promise<SidecarConnection> | undefined;
let sharedConnection: SidecarConnection | undefined;

/**
 * One sidecar process and the wire to it. Shared by every VM of this
 * client unless a VM asks for a dedicated one; it exits once the last VM
 * using it is disposed.
 */
export class SidecarConnection implements Caller {
  readonly forwarders: SidecarForwarders;
  private readonly peer: RpcPeer;
  private vms = 0;
  /** onPermissionRequest handlers by VM and session. */
  private readonly permissionHandlers = new Map<string, Set<PermissionRequestHandler>>();
  /** Host toolkits by VM and toolkit name: what ClientService.CallTool runs. */
  private readonly toolKits = new Map<string, Map<string, ToolKit>>();
  private busy = 0;
  private closing = false;
  private exited = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly writer: FrameWriter,
    maxFrameBytes: number,
  ) {
    this.peer = new RpcPeer({
      role: "client",
      maxFrameBytes,
      transport: writer,
      dispatcher: createClientDispatcher({
        clientService: {
          ping: (request) => ({ nonce: request.nonce }),
          requestPermission: (request) => ({ handled: this.offerPermission(request) }),
          callTool: (request) => runHostTool(this.hostTool(request.vmId, request.toolkit, request.tool), request.inputJson),
        },
      }),
      errorFromInfo: AgentOsError.fromInfo,
      onDiagnostic: (message) => process.emitWarning(message, "AgentOsProtocolWarning"),
    });
    this.forwarders = new SidecarForwarders(this);
    this.idle();
  }

  /**
   * A sidecar for one more VM: the shared one (started on first use) or a
   * dedicated one. The VM's reference is taken in the same step, so a
   * sidecar that is closing is never handed out.
   */
  static async acquire(options: SidecarOptions = {}): Promise<SidecarConnection> {
    for (;;) {
      const connection = await (options.dedicated || options.command
        ? SidecarConnection.start(options)
        : SidecarConnection.shared(options));
      if (!connection.usable) continue;
      connection.vms++;
      return connection;
    }
  }

  private static shared(options: SidecarOptions): Promise<SidecarConnection> {
    if (!shared) {
      const starting = SidecarConnection.start(options);
      shared = starting;
      starting.then(
        (connection) => {
          if (shared === starting) sharedConnection = connection;
        },
        () => {
          if (shared === starting) shared = undefined;
        },
      );
    }
    return shared;
  }

  private static start(options: SidecarOptions): Promise<SidecarConnection> {
    const command = options.command ?? process.execPath;
    const args = options.command
      ? (options.args ?? [])
      : [createRequire(import.meta.url).resolve("@agentos/sidecar/main"), ...(options.args ?? [])];
    const child = spawn(command, args, { stdio: ["pipe", "pipe", options.stderr ?? "inherit"] });
    return new Promise<SidecarConnection>((resolve, reject) => {
      const stdin = child.stdin;
      const stdout = child.stdout;
      if (!stdin || !stdout) throw new AgentOsError("INTERNAL", "the sidecar was started without pipes");
      const writer = new FrameWriter(stdin);
      let connection: SidecarConnection | undefined;
      let settled = false;
      const fail = (error: AgentOsError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        child.kill("SIGKILL");
        reject(error);
      };
      const timer = setTimeout(
        () =>
          fail(
            new AgentOsError(
              "UNAVAILABLE",
              `the sidecar (${command} ${args.join(" ")}) did not answer the hello within ${HELLO_TIMEOUT_MS} ms`,
            ),
          ),
        HELLO_TIMEOUT_MS,
      );
      const decoder = new FrameDecoder({
        onFrame: (frame: Frame) => {
          if (connection) {
            connection.peer.handleFrame(frame);
            return;
          }
          const kind = frame.kind;
          if (kind?.$case === "helloAccepted") {
            settled = true;
            clearTimeout(timer);
            // Both directions use the limit the sidecar announced.
            decoder.maxFrameBytes = kind.value.maxFrameBytes;
            connection = new SidecarConnection(child, writer, kind.value.maxFrameBytes);
            resolve(connection);
          } else if (kind?.$case === "helloRejected") {
            fail(new AgentOsError("VERSION_MISMATCH", kind.value.message));
          } else {
            fail(new AgentOsError("PROTOCOL_ERROR", `the sidecar answered the hello with ${kind?.$case ?? "an empty frame"}`));
          }
        },
        onFault: (fault) => process.emitWarning(`frame from the sidecar dropped: ${fault.message}`, "AgentOsProtocolWarning"),
      });
      stdout.on("data", (chunk: Buffer) => decoder.push(chunk));
      stdin.on("error", () => {}); // surfaced through the exit below
      child.on("error", (error) => fail(new AgentOsError("UNAVAILABLE", `cannot start the sidecar (${command}): ${error.message}`)));
      child.on("exit", (code, signal) => {
        const how = signal ? `signal ${signal}` : `code ${code}`;
        if (!connection) {
          fail(new AgentOsError("UNAVAILABLE", `the sidecar exited (${how}) before the handshake`));
          return;
        }
        connection.onExit(how);
      });
      writer.send({ kind: { $case: "hello", value: { version: CLIENT_VERSION, schemaHash: SCHEMA_HASH, peer: "@agentos/client" } } });
    });
  }

  /** Makes a VM's toolkits callable from the VM (until forgetToolKits). */
  registerToolKits(vmId: string, kits: readonly ToolKit[]): void {
    if (kits.length > 0) this.toolKits.set(vmId, new Map(kits.map((kit) => [kit.name, kit])));
  }

  private hostTool(vmId: string, toolkit: string, tool: string): HostTool | undefined {
    const tools = this.toolKits.get(vmId)?.get(toolkit)?.tools;
    return tools && Object.hasOwn(tools, tool) ? tools[tool] : undefined;
  }

  forgetToolKits(vmId: string): void {
    this.toolKits.delete(vmId);
  }

  /** Registers a handler for a session's permission requests. */
  onPermissionRequest(vmId: string, sessionId: string, handler: PermissionRequestHandler): Unsubscribe {
    const key = `${vmId}\u0000${sessionId}`;
    const handlers = this.permissionHandlers.get(key) ?? new Set<PermissionRequestHandler>();
    handlers.add(handler);
    this.permissionHandlers.set(key, handlers);
    return () => {
      handlers.delete(handler);
      if (handlers.size === 0 && this.permissionHandlers.get(key) === handlers) this.permissionHandlers.delete(key);
    };
  }

  /** Hands a permission request to its session's handlers; false when there are none. */
  private offerPermission(request: RequestPermissionRequest): boolean {
    const handlers = this.permissionHandlers.get(`${request.vmId}\u0000${request.sessionId}`);
    if (!handlers?.size) return false;
    const params = JSON.parse(request.paramsJson || "{}") as Record<string, unknown>;
    for (const handler of [...handlers]) {
      try {
        handler({ permissionId: request.permissionId, description: request.description || undefined, params });
      } catch (error) {
        process.emitWarning(`an onPermissionRequest handler threw: ${(error as Error)?.message ?? error}`, "AgentOsWarning");
      }
    }
    return true;
  }

  /** False once the sidecar has exited or is shutting down. */
  get usable(): boolean {
    return !this.exited && !this.closing;
  }

  /** A VM of this sidecar was disposed; the last one lets the sidecar exit. */
  release(): void {
    this.vms = Math.max(0, this.vms - 1);
    if (this.vms > 0 || this.closing) return;
    this.closing = true;
    this.forgetIfShared();
    this.writer.end();
  }

  call<Req, Res>(method: MethodDescriptor<Req, Res, "unary">, request: Req, options?: CallOptions): Promise<Res> {
    this.busier();
    return this.peer.call(method, request, options).finally(() => this.idle());
  }

  subscribe<Req, Item>(
    method: MethodDescriptor<Req, Item, "server_streaming">,
    request: Req,
    onItem: (item: Item) => void,
    onEnd?: StreamEndHandler,
  ): Unsubscribe {
    this.busier();
    return this.peer.subscribe(method, request, onItem, (error) => {
      this.idle();
      onEnd?.(error);
    });
  }

  private onExit(how: string): void {
    this.exited = true;
    const expected = this.closing;
    this.peer.close(
      new AgentOsError(
        "UNAVAILABLE",
        expected
          ? "the sidecar has shut down (its last VM was disposed)"
          : `the agentOS sidecar exited unexpectedly (${how}); its VMs are gone, create new ones with AgentOs.create()`,
      ),
    );
    this.forgetIfShared();
  }

  /** A closing or dead sidecar is never handed to a new VM. */
  private forgetIfShared(): void {
    if (sharedConnection !== this) return;
    sharedConnection = undefined;
    shared = undefined;
  }

  // The pipes keep this process alive only while calls or subscriptions are
  // pending: a program that forgets dispose() can still exit, and the
  // sidecar then sees EOF and cleans up.
  // Unreferencing waits for the next turn of the event loop, so back-to-back
  // calls (the common await-one-then-the-next) do not toggle the handles.
  private referenced = true;
  private unrefScheduled = false;

  private busier(): void {
    this.busy++;
    if (!this.referenced) this.setRef(true);
  }

  private idle(): void {
    if (this.busy > 0) this.busy--;
    if (this.busy > 0 || this.unrefScheduled || !this.referenced) return;
    this.unrefScheduled = true;
    setImmediate(() => {
      this.unrefScheduled = false;
      if (this.busy === 0) this.setRef(false);
    });
  }

  private setRef(ref: boolean): void {
    this.referenced = ref;
    for (const handle of [this.child, this.child.stdout, this.child.stdin] as { ref?(): void; unref?(): void }[]) {
      if (ref) handle?.ref?.();
      else handle?.unref?.();
    }
  }
}
