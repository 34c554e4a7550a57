import { readFileSync } from "node:fs";
import { ErrorCode, Frame, methods } from "@agentos/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SidecarUnderTest } from "../src/sidecar-under-test.js";

/**
 * Bad input gets an error frame and the sidecar keeps serving: after each
 * case, a normal request must still be answered.
 */
let sidecar: SidecarUnderTest;
let vmId: string;

const prefix = (length: number) => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, length, false);
  return bytes;
};
const stillServes = async () => {
  expect((await sidecar.call(methods.exists, { vmId, path: "/tmp" })).exists).toBe(true);
};
const rssKiB = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
};

beforeAll(async () => {
  sidecar = await SidecarUnderTest.open();
  vmId = (await sidecar.call(methods.create, { config: {} as never })).vmId;
});
afterAll(() => sidecar.end());

describe("malformed frames", () => {
  it("garbage bytes in a frame", async () => {
    sidecar.sendBytes(Buffer.concat([prefix(6), Buffer.from([0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa])]));
    expect((await sidecar.protocolError(0)).code).toBe(ErrorCode.PROTOCOL_ERROR);
    await stillServes();
  });

  it("an empty frame", async () => {
    sidecar.sendBytes(prefix(0));
    expect((await sidecar.protocolError(0)).message).toMatch(/no known kind/);
    await stillServes();
  });

  it("a frame cut short inside its protobuf", async () => {
    const whole = Frame.encode({
      kind: { $case: "request", value: { id: 900, method: methods.exists.fullName, payload: new Uint8Array(8) } },
    }).finish();
    const cut = whole.subarray(0, whole.length - 5);
    sidecar.sendBytes(Buffer.concat([prefix(cut.length), cut]));
    expect((await sidecar.protocolError(0)).code).toBe(ErrorCode.PROTOCOL_ERROR);
    await stillServes();
  });

  it("an oversize frame is refused from its prefix and skipped without being buffered", async () => {
    const before = rssKiB(sidecar.pid);
    // Four times what a buffering sidecar could hide in garbage-collector noise.
    const size = 256 * 1024 * 1024;
    sidecar.sendBytes(prefix(size));
    expect((await sidecar.protocolError(0)).message).toMatch(/exceeds the limit/);
    const chunk = Buffer.alloc(1024 * 1024, 0x41);
    for (let sent = 0; sent < size; sent += chunk.length) sidecar.sendBytes(chunk);
    await stillServes();
    expect(rssKiB(sidecar.pid) - before).toBeLessThan(96 * 1024);
  });

  it("an answer too large for one frame is refused with RESOURCE_EXHAUSTED, not sent", async () => {
    // Written by Node in 1 MiB writes: the WebAssembly `head -c` needs ~20 s for this on 2 cores (more under load).
    const write17MiB = `const fs = require("fs"); const fd = fs.openSync("/tmp/huge", "w"); const b = Buffer.alloc(1 << 20); for (let i = 0; i < 17; i++) fs.writeSync(fd, b); fs.closeSync(fd)`;
    expect(await sidecar.call(methods.exec, { vmId, command: `node -e '${write17MiB}'` })).toMatchObject({ exitCode: 0 });
    await expect(sidecar.call(methods.readFile, { vmId, path: "/tmp/huge" })).rejects.toMatchObject({ code: "RESOURCE_EXHAUSTED" });
    await sidecar.call(methods.delete, { vmId, path: "/tmp/huge" });
    await stillServes();
  });

  it("a frame of the wrong kind", async () => {
    sidecar.sendFrame({ kind: { $case: "helloAccepted", value: { version: "x", schemaHash: "y", maxFrameBytes: 1 } } });
    expect((await sidecar.protocolError()).code).toBe(ErrorCode.PROTOCOL_ERROR);
    sidecar.sendFrame({ kind: { $case: "streamItem", value: { id: 77, payload: new Uint8Array() } } });
    expect((await sidecar.protocolError(77)).message).toMatch(/not an open stream/);
    sidecar.sendFrame({ kind: { $case: "response", value: { id: -5, result: { $case: "payload", value: new Uint8Array() } } } });
    expect((await sidecar.protocolError(-5)).message).toMatch(/unknown request id/);
    await stillServes();
  });

  it("a duplicate request id while the first is in flight", async () => {
    const { pid } = await sidecar.call(methods.spawn, { vmId, command: "sleep", args: ["30"] });
    const id = sidecar.allocateId();
    const payload = methods.waitProcess.request.encode({ vmId, pid }).finish();
    sidecar.sendRequest(id, methods.waitProcess.fullName, payload);
    sidecar.sendRequest(id, methods.waitProcess.fullName, payload);
    expect((await sidecar.protocolError(id)).message).toMatch(/duplicate request id/);
    await sidecar.call(methods.killProcess, { vmId, pid });
    const first = await sidecar.response(id);
    expect(first.kind?.$case === "response" && first.kind.value.result?.$case).toBe("payload");
    await stillServes();
  });

  it("a request id of the wrong sign", async () => {
    sidecar.sendRequest(-9, methods.exists.fullName, methods.exists.request.encode({ vmId, path: "/" }).finish());
    expect((await sidecar.protocolError(-9)).message).toMatch(/wrong sign/);
    await stillServes();
  });

  it("an unknown method", async () => {
    const id = sidecar.allocateId();
    sidecar.sendRequest(id, "agentos.v1.NoSuchService/Nothing", new Uint8Array());
    const frame = await sidecar.response(id);
    const result = frame.kind?.$case === "response" ? frame.kind.value.result : undefined;
    expect(result?.$case === "error" && result.value.code).toBe(ErrorCode.UNIMPLEMENTED);
    await stillServes();
  });

  it("a payload that is not the method's request message", async () => {
    const id = sidecar.allocateId();
    sidecar.sendRequest(id, methods.exists.fullName, new Uint8Array([0x0a, 0xff, 0xff, 0xff]));
    const frame = await sidecar.response(id);
    const result = frame.kind?.$case === "response" ? frame.kind.value.result : undefined;
    expect(result?.$case === "error" && result.value.code).toBe(ErrorCode.INVALID_ARGUMENT);
    await stillServes();
  });

  it("a burst of all of the above at once", async () => {
    sidecar.sendBytes(Buffer.concat([prefix(3), Buffer.from([1, 2, 3]), prefix(0)]));
    sidecar.sendRequest(sidecar.allocateId(), "bogus", new Uint8Array([9]));
    await stillServes();
  });
});
