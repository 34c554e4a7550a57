import type { Writable } from "node:stream";
import type { Frame } from "../generated/agentos/v1/frame.js";
import { encodeFrame } from "./frame-codec.js";
import type { PeerTransport } from "./peer.js";

/** Buffered bytes above which a writer reports itself congested. */
export const DEFAULT_CONGESTION_BYTES = 8 * 1024 * 1024;

/**
 * Writes frames to a stream. Frames written in the same tick leave in one
 * system call (cork until the next tick), which is what makes pipelined
 * small requests cheap.
 */
export class FrameWriter implements PeerTransport {
  private corked = false;
  private closed = false;

  constructor(
    private readonly stream: Writable,
    private readonly congestionBytes = DEFAULT_CONGESTION_BYTES,
  ) {
    stream.on("close", () => {
      this.closed = true;
    });
  }

  send(frame: Frame): void {
    this.writeBytes(encodeFrame(frame));
  }

  /** Raw bytes, already framed (conformance tests use this to send malformed input). */
  writeBytes(bytes: Uint8Array): void {
    if (this.closed || this.stream.destroyed || this.stream.writableEnded) return;
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(() => {
        this.corked = false;
        this.stream.uncork();
      });
    }
    this.stream.write(bytes);
  }

  /** True while more than the congestion threshold waits in the stream's buffer. */
  get congested(): boolean {
    return this.stream.writableLength > this.congestionBytes;
  }

  onDrain(listener: () => void): void {
    this.stream.once("drain", listener);
  }

  end(): void {
    if (!this.closed && !this.stream.writableEnded) this.stream.end();
  }
}
