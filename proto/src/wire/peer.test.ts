import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../generated/agentos/v1/error.js";
import type { Frame } from "../generated/agentos/v1/frame.js";
import { methods } from "../generated/method-table.js";
import { type Dispatcher, type PeerTransport, RpcPeer, streamEntry, unaryEntry } from "./peer.js";
import { RpcError } from "./rpc-error.js";

/** Two peers wired back to back; frames cross on the next microtask like on a real pipe. */
function pair(sidecarDispatcher: Dispatcher, clientDispatcher: Dispatcher = new Map()) {
  const sent: Frame[] = [];
  let client!: RpcPeer;
  let sidecar!: RpcPeer;
  const transport = (to: () => RpcPeer): PeerTransport => ({
    send: (frame) => {
      sent.push(frame);
      queueMicrotask(() => to().handleFrame(frame));
    },
    congested: false,
    onDrain: () => {},
  });
  client = new RpcPeer({ role: "client", transport: transport(() => sidecar), dispatcher: clientDispatcher });
  sidecar = new RpcPeer({ role: "sidecar", transport: transport(() => client), dispatcher: sidecarDispatcher });
  return { client, sidecar, sent };
}

const statOk = unaryEntry(methods.stat, (request) => ({
  stat: {
    mode: 0o755,
    size: request.path.length,
    isDirectory: true,
    isSymbolicLink: false,
    atimeMs: 0,
    mtimeMs: 0,
    ctimeMs: 0,
    birthtimeMs: 0,
    ino: 1,
    nlink: 1,
    uid: 0,
    gid: 0,
  },
}));

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups) c();
  cleanups = [];
});

describe("RpcPeer", () => {
  it("makes unary calls and numbers client requests positively", async () => {
    const { client, sent } = pair(new Map([[methods.stat.fullName, statOk]]));
    const answer = await client.call(methods.stat, { vmId: "vm-1", path: "/tmp" });
    expect(answer.stat?.size).toBe(4);
    const request = sent.find((f) => f.kind?.$case === "request");
    expect(request?.kind?.$case === "request" && request.kind.value.id).toBe(1);
    expect(client.pendingCount).toBe(0);
  });

  it("carries typed errors across", async () => {
    const failing = unaryEntry(methods.stat, () => {
      throw new RpcError("NOT_FOUND", "no such path", { errno: "ENOENT" });
    });
    const { client } = pair(new Map([[methods.stat.fullName, failing]]));
    await expect(client.call(methods.stat, { vmId: "v", path: "/x" })).rejects.toMatchObject({
      code: "NOT_FOUND",
      errno: "ENOENT",
      message: "no such path",
    });
  });

  it("turns unexpected handler failures into INTERNAL without losing the message", async () => {
    const crashing = unaryEntry(methods.stat, () => {
      throw new TypeError("boom");
    });
    const { client } = pair(new Map([[methods.stat.fullName, crashing]]));
    await expect(client.call(methods.stat, { vmId: "v", path: "/x" })).rejects.toMatchObject({
      code: "INTERNAL",
      message: "internal error: boom",
    });
  });

  it("answers an unknown method with UNIMPLEMENTED", async () => {
    const { client } = pair(new Map());
    await expect(client.call(methods.stat, { vmId: "v", path: "/x" })).rejects.toMatchObject({ code: "UNIMPLEMENTED" });
  });

  it("streams items, then ends; unsubscribing cancels the handler", async () => {
    let aborted = false;
    const ticker = streamEntry(methods.onProcessStdout, async (_request, stream) => {
      for (let i = 0; i < 3; i++) stream.send({ data: new Uint8Array([i]), droppedBytes: 0 });
      await new Promise<void>((resolve) =>
        stream.signal.addEventListener("abort", () => {
          aborted = true;
          resolve();
        }),
      );
    });
    const { client } = pair(new Map([[methods.onProcessStdout.fullName, ticker]]));
    const items: number[] = [];
    let ended = false;
    const unsubscribe = client.subscribe(
      methods.onProcessStdout,
      { vmId: "v", pid: 1 },
      (item) => items.push(item.data[0]),
      (error) => {
        expect(error).toBeUndefined();
        ended = true;
      },
    );
    await new Promise((r) => setTimeout(r, 10));
    expect(items).toEqual([0, 1, 2]);
    unsubscribe();
    await new Promise((r) => setTimeout(r, 10));
    expect(aborted).toBe(true);
    expect(ended).toBe(true);
    expect(client.pendingCount).toBe(0);
  });

  it("refuses a duplicate in-flight request id and a request id of the wrong sign", async () => {
    const sent: Frame[] = [];
    const slow = unaryEntry(methods.stat, () => new Promise<never>(() => {}));
    const sidecar = new RpcPeer({
      role: "sidecar",
      transport: { send: (f) => sent.push(f), congested: false, onDrain: () => {} },
      dispatcher: new Map([[methods.stat.fullName, slow]]),
    });
    const payload = methods.stat.request.encode({ vmId: "v", path: "/" }).finish();
    sidecar.handleFrame({ kind: { $case: "request", value: { id: 5, method: methods.stat.fullName, payload } } });
    sidecar.handleFrame({ kind: { $case: "request", value: { id: 5, method: methods.stat.fullName, payload } } });
    sidecar.handleFrame({ kind: { $case: "request", value: { id: -3, method: methods.stat.fullName, payload } } });
    const errors = sent.map((f) => (f.kind?.$case === "protocolError" ? [f.kind.value.id, f.kind.value.error?.code] : null));
    expect(errors).toEqual([
      [5, ErrorCode.PROTOCOL_ERROR],
      [-3, ErrorCode.PROTOCOL_ERROR],
    ]);
  });

  it("answers INVALID_ARGUMENT when a payload does not decode", () => {
    const sent: Frame[] = [];
    const sidecar = new RpcPeer({
      role: "sidecar",
      transport: { send: (f) => sent.push(f), congested: false, onDrain: () => {} },
      dispatcher: new Map([[methods.stat.fullName, statOk]]),
    });
    sidecar.handleFrame({
      kind: { $case: "request", value: { id: 1, method: methods.stat.fullName, payload: new Uint8Array([0xff, 0xff]) } },
    });
    const response = sent[0].kind;
    expect(response?.$case === "response" && response.value.result?.$case === "error" && response.value.result.value.code).toBe(
      ErrorCode.INVALID_ARGUMENT,
    );
  });

  it("bounds the requests it serves at once", () => {
    const sent: Frame[] = [];
    const never = unaryEntry(methods.stat, () => new Promise<never>(() => {}));
    const sidecar = new RpcPeer({
      role: "sidecar",
      maxIncoming: 2,
      transport: { send: (f) => sent.push(f), congested: false, onDrain: () => {} },
      dispatcher: new Map([[methods.stat.fullName, never]]),
    });
    const payload = methods.stat.request.encode({ vmId: "v", path: "/" }).finish();
    for (const id of [1, 2, 3]) sidecar.handleFrame({ kind: { $case: "request", value: { id, method: methods.stat.fullName, payload } } });
    expect(sent).toHaveLength(1);
    const kind = sent[0].kind;
    expect(kind?.$case === "response" && kind.value.id).toBe(3);
    expect(kind?.$case === "response" && kind.value.result?.$case === "error" && kind.value.result.value.code).toBe(
      ErrorCode.RESOURCE_EXHAUSTED,
    );
  });

  it("rejects everything pending when closed, and later calls at once", async () => {
    const { client } = pair(new Map([[methods.stat.fullName, unaryEntry(methods.stat, () => new Promise<never>(() => {}))]]));
    const pending = client.call(methods.stat, { vmId: "v", path: "/" });
    let streamError: Error | undefined;
    client.subscribe(
      methods.onProcessExit,
      { vmId: "v", pid: 1 },
      () => {},
      (error) => {
        streamError = error;
      },
    );
    client.close(new RpcError("UNAVAILABLE", "gone"));
    await expect(pending).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(streamError).toMatchObject({ code: "UNAVAILABLE" });
    await expect(client.call(methods.stat, { vmId: "v", path: "/" })).rejects.toMatchObject({ code: "UNAVAILABLE" });
  });

  it("reports a response to an unknown id as a protocol error", () => {
    const sent: Frame[] = [];
    const client = new RpcPeer({
      role: "client",
      transport: { send: (f) => sent.push(f), congested: false, onDrain: () => {} },
      dispatcher: new Map(),
    });
    client.handleFrame({ kind: { $case: "response", value: { id: 42, result: { $case: "payload", value: new Uint8Array() } } } });
    expect(sent[0].kind?.$case).toBe("protocolError");
  });

  it("never sends a frame larger than the other side reads", async () => {
    const sent: Frame[] = [];
    const big = unaryEntry(methods.readFile, () => ({ content: new Uint8Array(8 * 1024) }));
    const bigStream = streamEntry(methods.onProcessStdout, async (_r, stream) => {
      stream.send({ data: new Uint8Array(8 * 1024), droppedBytes: 0 });
    });
    const transport = { send: (f: Frame) => sent.push(f), congested: false, onDrain: () => {} };
    const client = new RpcPeer({ role: "client", transport, dispatcher: new Map(), maxFrameBytes: 4096 });
    await expect(client.call(methods.writeFile, { vmId: "v", path: "/a", content: new Uint8Array(8 * 1024) })).rejects.toMatchObject({
      code: "RESOURCE_EXHAUSTED",
      limit: "max_frame_bytes",
    });
    expect(sent).toEqual([]);
    const sidecar = new RpcPeer({
      role: "sidecar",
      transport,
      maxFrameBytes: 4096,
      dispatcher: new Map([
        [methods.readFile.fullName, big],
        [methods.onProcessStdout.fullName, bigStream],
      ]),
    });
    sidecar.handleFrame({ kind: { $case: "request", value: { id: 1, method: methods.readFile.fullName, payload: new Uint8Array() } } });
    sidecar.handleFrame({
      kind: { $case: "request", value: { id: 2, method: methods.onProcessStdout.fullName, payload: new Uint8Array() } },
    });
    await new Promise((r) => setTimeout(r, 10));
    const answers = sent.map((f) =>
      f.kind?.$case === "response" && f.kind.value.result?.$case === "error"
        ? [f.kind.value.id, f.kind.value.result.value.code]
        : f.kind?.$case,
    );
    expect(answers).toEqual([
      [1, ErrorCode.RESOURCE_EXHAUSTED],
      [2, ErrorCode.RESOURCE_EXHAUSTED],
    ]);
  });
});
