import { describe, expect, it } from "vitest";
import type { Frame } from "../generated/agentos/v1/frame.js";
import { encodeFrame, FrameDecoder, type FrameFault } from "./frame-codec.js";

function collect(max?: number) {
  const frames: Frame[] = [];
  const faults: FrameFault[] = [];
  const decoder = new FrameDecoder({ onFrame: (f) => frames.push(f), onFault: (f) => faults.push(f) }, max);
  return { decoder, frames, faults };
}

const request = (id: number, payload = new Uint8Array([1, 2, 3])): Frame => ({
  kind: { $case: "request", value: { id, method: "agentos.v1.FilesystemService/Stat", payload } },
});

describe("FrameDecoder", () => {
  it("decodes frames however the bytes are split", () => {
    const bytes = Buffer.concat([encodeFrame(request(1)), encodeFrame(request(2)), encodeFrame(request(3))]);
    for (const step of [1, 2, 3, 7, bytes.length]) {
      const { decoder, frames, faults } = collect();
      for (let i = 0; i < bytes.length; i += step) decoder.push(bytes.subarray(i, i + step));
      expect(faults).toEqual([]);
      expect(frames.map((f) => (f.kind?.$case === "request" ? f.kind.value.id : 0))).toEqual([1, 2, 3]);
      expect(decoder.pendingBytes).toBe(0);
    }
  });

  it("reports an oversize frame from its prefix and skips it without keeping it", () => {
    const { decoder, frames, faults } = collect(1024);
    const big = encodeFrame(request(1, new Uint8Array(5000)));
    decoder.push(big.subarray(0, 100));
    expect(faults).toHaveLength(1);
    expect(faults[0].kind).toBe("oversize");
    expect(faults[0].message).toMatch(/exceeds the limit of 1024 bytes/);
    // Nothing of the oversize frame is held: only the count of bytes still to skip.
    expect(decoder.pendingBytes).toBe(big.length - 100);
    for (let i = 100; i < big.length; i += 333) decoder.push(big.subarray(i, i + 333));
    decoder.push(encodeFrame(request(2)));
    expect(frames.map((f) => (f.kind?.$case === "request" ? f.kind.value.id : 0))).toEqual([2]);
    expect(decoder.pendingBytes).toBe(0);
  });

  it("reports garbage and empty frames and carries on", () => {
    const { decoder, frames, faults } = collect();
    const garbage = new Uint8Array([0, 0, 0, 3, 0xff, 0xff, 0xff]);
    const empty = new Uint8Array([0, 0, 0, 0]);
    decoder.push(Buffer.concat([garbage, empty, encodeFrame(request(9))]));
    expect(faults.map((f) => f.kind)).toEqual(["undecodable", "empty"]);
    expect(frames).toHaveLength(1);
    // An empty frame as the very last bytes (nothing buffered behind it).
    decoder.push(empty);
    expect(faults.map((f) => f.kind)).toEqual(["undecodable", "empty", "empty"]);
  });

  it("counts the bytes of a frame cut short", () => {
    const { decoder, frames } = collect();
    const bytes = encodeFrame(request(1));
    decoder.push(bytes.subarray(0, bytes.length - 2));
    expect(frames).toHaveLength(0);
    expect(decoder.pendingBytes).toBe(bytes.length - 2);
  });
});
