import { methods } from "@agentos/proto";
import { describe, expect, it } from "vitest";
import { SidecarUnderTest, waitGone } from "../src/sidecar-under-test.js";

/** A sidecar with a VM running a JavaScript process (so its native helpers are up). */
async function busySidecar() {
  const sidecar = await SidecarUnderTest.open();
  const { vmId } = await sidecar.call(methods.create, { config: {} as never });
  await sidecar.call(methods.spawn, { vmId, command: "node", args: ["-e", "setInterval(() => {}, 1000)"] });
  await sidecar.call(methods.spawn, { vmId, command: "sleep", args: ["60"] });
  await new Promise((r) => setTimeout(r, 500));
  const helpers = sidecar.helpers();
  expect(helpers.length).toBeGreaterThan(0);
  return { sidecar, helpers };
}

describe("clean shutdown", () => {
  it("on stdin EOF: disposes every VM, exits 0, leaves no process behind", async () => {
    const { sidecar, helpers } = await busySidecar();
    expect((await sidecar.end()).code).toBe(0);
    expect(await waitGone([sidecar.pid, ...helpers])).toEqual([]);
  });

  it("on SIGTERM: the same", async () => {
    const { sidecar, helpers } = await busySidecar();
    sidecar.child.kill("SIGTERM");
    expect(await sidecar.exited).toEqual({ code: 0, signal: null });
    expect(await waitGone([sidecar.pid, ...helpers])).toEqual([]);
  });

  it("on EOF in the middle of a frame: exits 0 and says so", async () => {
    const sidecar = await SidecarUnderTest.open();
    sidecar.sendBytes(new Uint8Array([0, 0, 1, 0, 1, 2, 3]));
    expect((await sidecar.end()).code).toBe(0);
    expect(sidecar.stderr).toMatch(/input ended inside a frame/);
  });
});
