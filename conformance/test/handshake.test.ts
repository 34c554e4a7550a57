import { methods, SCHEMA_HASH } from "@agentos/proto";
import { describe, expect, it } from "vitest";
import { PROTOCOL_VERSION, SidecarUnderTest } from "../src/sidecar-under-test.js";

describe("handshake", () => {
  it("accepts a hello with the same version and schema hash", async () => {
    const sidecar = SidecarUnderTest.start();
    const answer = await sidecar.hello(PROTOCOL_VERSION, SCHEMA_HASH);
    expect(answer.kind?.$case).toBe("helloAccepted");
    if (answer.kind?.$case !== "helloAccepted") return;
    expect(answer.kind.value).toMatchObject({ version: PROTOCOL_VERSION, schemaHash: SCHEMA_HASH });
    expect(answer.kind.value.maxFrameBytes).toBeGreaterThanOrEqual(1024);
    expect((await sidecar.end()).code).toBe(0);
  });

  it("rejects another version, naming both, and closes", async () => {
    const sidecar = SidecarUnderTest.start();
    const answer = await sidecar.hello("0.0.0-other", SCHEMA_HASH);
    expect(answer.kind?.$case).toBe("helloRejected");
    if (answer.kind?.$case !== "helloRejected") return;
    expect(answer.kind.value).toMatchObject({ sidecarVersion: PROTOCOL_VERSION, clientVersion: "0.0.0-other" });
    expect(answer.kind.value.message).toContain("0.0.0-other");
    expect(answer.kind.value.message).toContain(PROTOCOL_VERSION);
    const exit = await sidecar.exited;
    expect(exit.code).not.toBe(0);
  });

  it("rejects another schema hash", async () => {
    const sidecar = SidecarUnderTest.start();
    const answer = await sidecar.hello(PROTOCOL_VERSION, "sha256:not-the-schema");
    expect(answer.kind?.$case).toBe("helloRejected");
    if (answer.kind?.$case === "helloRejected") expect(answer.kind.value.message).toContain("sha256:not-the-schema");
    await sidecar.exited;
  });

  it("serves nothing before the hello, and still takes the hello after", async () => {
    const sidecar = SidecarUnderTest.start();
    sidecar.sendRequest(7, methods.stat.fullName, methods.stat.request.encode({ vmId: "vm-1", path: "/" }).finish());
    const error = await sidecar.protocolError(7);
    expect(error.message).toMatch(/hello/);
    expect((await sidecar.hello(PROTOCOL_VERSION, SCHEMA_HASH)).kind?.$case).toBe("helloAccepted");
    await expect(sidecar.call(methods.stat, { vmId: "vm-nope", path: "/" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect((await sidecar.end()).code).toBe(0);
  });

  it("refuses a second hello", async () => {
    const sidecar = await SidecarUnderTest.open();
    sidecar.sendFrame({ kind: { $case: "hello", value: { version: PROTOCOL_VERSION, schemaHash: SCHEMA_HASH, peer: "again" } } });
    expect((await sidecar.protocolError()).message).toMatch(/handshake is already done/);
    await sidecar.end();
  });
});
