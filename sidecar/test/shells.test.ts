import { methods } from "@agentos/proto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { bytes, TestSidecar, text } from "./harness.js";

let sidecar: TestSidecar;
beforeAll(async () => {
  sidecar = await TestSidecar.start();
});
afterAll(() => sidecar.stop());

it("drives an interactive shell on a terminal", async () => {
  const vmId = await sidecar.createVm({ limits: { cpuTimeMs: 2000 } });
  const { shellId, pid } = await sidecar.call(methods.openShell, { vmId, cols: 100, rows: 30 });
  expect(shellId).toMatch(/^shell-/);
  let screen = "";
  let ended = false;
  sidecar.peer.subscribe(
    methods.onShellData,
    { vmId, shellId },
    (item) => {
      screen += text(item.data);
    },
    () => {
      ended = true;
    },
  );
  const waitFor = async (needle: string) => {
    for (let i = 0; i < 100 && !screen.includes(needle); i++) await new Promise((r) => setTimeout(r, 50));
    expect(screen).toContain(needle);
  };
  await sidecar.call(methods.writeShell, { vmId, shellId, data: bytes("echo $((6 * 7)) $COLUMNS\n") });
  await waitFor("42 100");
  await sidecar.call(methods.resizeShell, { vmId, shellId, cols: 120, rows: 40 });
  // The shell itself is exempt from the run-time limit; it outlives cpuTimeMs.
  await new Promise((r) => setTimeout(r, 2600));
  await sidecar.call(methods.writeShell, { vmId, shellId, data: bytes("cd /tmp && pwd\n") });
  await waitFor("/tmp");
  const running = (await sidecar.call(methods.allProcesses, { vmId })).processes.find((p) => p.pid === pid);
  expect(running?.status).toBe("running");
  await sidecar.call(methods.closeShell, { vmId, shellId });
  for (let i = 0; i < 40 && !ended; i++) await new Promise((r) => setTimeout(r, 50));
  expect(ended).toBe(true);
  await expect(sidecar.call(methods.writeShell, { vmId, shellId, data: bytes("x") })).rejects.toMatchObject({ code: "NOT_FOUND" });
});

it("holds terminal output until the first reader", async () => {
  const vmId = await sidecar.createVm();
  const { shellId } = await sidecar.call(methods.openShell, { vmId });
  await sidecar.call(methods.writeShell, { vmId, shellId, data: bytes("echo early-bird\n") });
  await new Promise((r) => setTimeout(r, 500));
  let screen = "";
  const stop = sidecar.peer.subscribe(methods.onShellData, { vmId, shellId }, (item) => {
    screen += text(item.data);
  });
  for (let i = 0; i < 40 && !screen.includes("early-bird\r\n"); i++) await new Promise((r) => setTimeout(r, 50));
  expect(screen).toContain("early-bird\r\n");
  stop();
  await sidecar.call(methods.closeShell, { vmId, shellId });
});
