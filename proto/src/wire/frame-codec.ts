import { Frame } from "../generated/agentos/v1/frame.js";

/** Default largest frame a peer accepts (the 4-byte length prefix not counted). */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** A frame as bytes on the wire: 4-byte big-endian length, then the encoded Frame. */
export function encodeFrame(frame: Frame): Uint8Array {
  const body = Frame.encode(frame).finish();
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length, false);
  out.set(body, 4);
  return out;
}

/** Why a frame could not be read. The decoder carries on with the next one. */
export interface FrameFault {
  kind: "oversize" | "undecodable" | "empty";
  message: string;
}

export interface FrameDecoderHandlers {
  onFrame(frame: Frame): void;
  onFault(fault: FrameFault): void;
}

/**
 * Splits a byte stream into frames. The length prefix is checked before any
 * of the frame is kept: an oversize frame is reported and then skipped as it
 * streams past, so memory stays bounded by the limit.
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private size = 0;
  /** Length of the frame being collected, or -1 while reading a prefix. */
  private expected = -1;
  /** Bytes of an oversize frame still to discard. */
  private skipping = 0;

  constructor(
    private readonly handlers: FrameDecoderHandlers,
    /** The largest frame accepted; may be changed between frames. */
    public maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
  ) {}

  /** Bytes of frames that have not fully arrived, prefix included (non-zero at EOF: a truncated frame). */
  get pendingBytes(): number {
    return this.size + this.skipping + (this.expected >= 0 ? 4 : 0);
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
    for (;;) {
      if (this.skipping > 0) {
        this.skipping -= this.drop(Math.min(this.skipping, this.size));
        if (this.skipping > 0) return;
      }
      if (this.expected < 0) {
        if (this.size < 4) return;
        const prefix = this.take(4);
        const length = new DataView(prefix.buffer, prefix.byteOffset, 4).getUint32(0, false);
        if (length > this.maxFrameBytes) {
          this.skipping = length;
          this.handlers.onFault({
            kind: "oversize",
            message: `frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes} bytes; it was skipped unread`,
          });
          continue;
        }
        this.expected = length;
      }
      if (this.size < this.expected) return;
      const body = this.take(this.expected);
      this.expected = -1;
      this.decode(body);
    }
  }

  private decode(body: Uint8Array): void {
    let frame: Frame;
    try {
      frame = Frame.decode(body);
    } catch (error) {
      this.handlers.onFault({
        kind: "undecodable",
        message: `frame of ${body.length} bytes does not decode as agentos.v1.Frame: ${(error as Error).message}`,
      });
      return;
    }
    if (frame.kind === undefined) {
      this.handlers.onFault({ kind: "empty", message: "frame carries no known kind (hello, request, response, ...)" });
      return;
    }
    this.handlers.onFrame(frame);
  }

  /** Removes and returns the first n bytes (n <= size). */
  private take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    const first = this.chunks[0];
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.size -= n;
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0];
      const used = Math.min(chunk.length, n - filled);
      out.set(chunk.subarray(0, used), filled);
      filled += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    this.size -= n;
    return out;
  }

  /** Discards up to n bytes; returns how many. */
  private drop(n: number): number {
    let left = n;
    while (left > 0 && this.chunks.length > 0) {
      const chunk = this.chunks[0];
      if (chunk.length <= left) {
        left -= chunk.length;
        this.chunks.shift();
      } else {
        this.chunks[0] = chunk.subarray(left);
        left = 0;
      }
    }
    this.size -= n - left;
    return n - left;
  }
}
