import type { Readable, Writable } from "node:stream";
import {
  DEFAULT_MAX_FRAME_BYTES,
  type Dispatcher,
  type Frame,
  FrameDecoder,
  FrameWriter,
  type Hello,
  RpcError,
  RpcPeer,
} from "@agentos/proto";

export type CloseReason = "eof" | "rejected" | "shutdown";

export interface ConnectionOptions {
  input: Readable;
  output: Writable;
  dispatcher: Dispatcher;
  version: string;
  schemaHash: string;
  maxFrameBytes?: number;
  log: (message: string) => void;
}

/**
 * The sidecar's end of one stdio connection: frames in, frames out. The
 * first frame must be a matching hello; until then nothing else is served.
 */
export class SidecarConnection {
  readonly peer: RpcPeer;
  readonly closed: Promise<CloseReason>;
  private state: "hello" | "open" | "closed" = "hello";
  private readonly writer: FrameWriter;
  private readonly decoder: FrameDecoder;
  private resolveClosed!: (reason: CloseReason) => void;

  constructor(private readonly options: ConnectionOptions) {
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    this.writer = new FrameWriter(options.output);
    this.peer = new RpcPeer({
      role: "sidecar",
      dispatcher: options.dispatcher,
      transport: this.writer,
      onDiagnostic: options.log,
      maxFrameBytes,
    });
    this.decoder = new FrameDecoder(
      {
        onFrame: (frame) => this.onFrame(frame),
        onFault: (fault) => this.peer.protocolError(0, fault.message),
      },
      maxFrameBytes,
    );
    options.input.on("data", (chunk: Buffer) => {
      if (this.state !== "closed") this.decoder.push(chunk);
    });
    options.input.on("end", () => {
      if (this.decoder.pendingBytes > 0) {
        options.log(`input ended inside a frame (${this.decoder.pendingBytes} bytes of it never arrived)`);
      }
      this.close("eof");
    });
    options.input.on("error", (error) => {
      options.log(`input failed: ${error.message}`);
      this.close("eof");
    });
    options.output.on("error", (error) => {
      options.log(`output failed: ${error.message}`);
      this.close("eof");
    });
  }

  close(reason: CloseReason): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.peer.close(new RpcError("UNAVAILABLE", "the connection to the client closed"));
    this.writer.end();
    this.resolveClosed(reason);
  }

  private onFrame(frame: Frame): void {
    const kind = frame.kind;
    if (this.state === "hello") {
      if (kind?.$case === "hello") this.onHello(kind.value);
      else
        this.peer.protocolError(
          frameId(frame),
          `expected a hello as the first frame, got ${kind?.$case}; nothing is served before the handshake`,
        );
      return;
    }
    if (this.state !== "open") return;
    if (kind?.$case === "hello" || kind?.$case === "helloAccepted" || kind?.$case === "helloRejected") {
      this.peer.protocolError(0, `unexpected ${kind.$case}: the handshake is already done`);
      return;
    }
    this.peer.handleFrame(frame);
  }

  private onHello(hello: Hello): void {
    const { version, schemaHash } = this.options;
    if (hello.version === version && hello.schemaHash === schemaHash) {
      this.state = "open";
      this.writer.send({
        kind: {
          $case: "helloAccepted",
          value: { version, schemaHash, maxFrameBytes: this.options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES },
        },
      });
      return;
    }
    const message =
      `client ${hello.version || "(no version)"} (schema ${hello.schemaHash || "none"}) does not match ` +
      `sidecar ${version} (schema ${schemaHash}); client and sidecar ship in lockstep: install the same version of both`;
    this.options.log(`hello rejected from ${hello.peer || "unnamed peer"}: ${message}`);
    this.writer.send({
      kind: {
        $case: "helloRejected",
        value: {
          sidecarVersion: version,
          sidecarSchemaHash: schemaHash,
          clientVersion: hello.version,
          clientSchemaHash: hello.schemaHash,
          message,
        },
      },
    });
    this.close("rejected");
  }
}

function frameId(frame: Frame): number {
  const kind = frame.kind;
  if (!kind) return 0;
  return "id" in kind.value ? (kind.value as { id: number }).id : 0;
}
