import { methods } from "@agentos/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestSidecar, text } from "./harness.js";

let sidecar: TestSidecar;
beforeAll(async () => {
  sidecar = await TestSidecar.start();
});
afterAll(() => sidecar.stop());

describe("limits fire, and only the process they bound ends", () => {
  it("ends a spinning JavaScript process after limits.cpuTimeMs with 124", async () => {
    const vmId = await sidecar.createVm({ limits: { cpuTimeMs: 1500 } });
    const started = Date.now();
    const { pid } = await sidecar.call(methods.spawn, { vmId, command: "node", args: ["-e", "for (;;) {}"] });
    const exit = await sidecar.call(methods.waitProcess, { vmId, pid });
    expect(exit).toEqual({ exitCode: 124, limit: "cpu_time_ms" });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await sidecar.exec(vmId, "echo next")).stdout).toBe("next\n");
  });

  it("ends a looping WebAssembly command too", async () => {
    const vmId = await sidecar.createVm({ limits: { cpuTimeMs: 1500 } });
    const { pid } = await sidecar.call(methods.spawn, { vmId, command: "sh", args: ["-c", "while :; do :; done"] });
    expect(await sidecar.call(methods.waitProcess, { vmId, pid })).toEqual({ exitCode: 124, limit: "cpu_time_ms" });
  });

  it("lets an exec (and what it starts) run to its own time limit, past cpuTimeMs", async () => {
    const vmId = await sidecar.createVm({ limits: { cpuTimeMs: 1000 } });
    const result = await sidecar.exec(vmId, "sleep 2 && node -e 'setTimeout(() => console.log(\"done\"), 1200)'");
    expect(result).toMatchObject({ exitCode: 0, stdout: "done\n" });
    // What exec leaves running is bounded by cpuTimeMs again.
    const { pid } = await sidecar.call(methods.spawn, { vmId, command: "sleep", args: ["30"] });
    expect(await sidecar.call(methods.waitProcess, { vmId, pid })).toEqual({ exitCode: 124, limit: "cpu_time_ms" });
  });

  it("bounds exec by limits.execTimeoutMs and by the call's timeout, killing the whole tree", async () => {
    const vmId = await sidecar.createVm({ limits: { execTimeoutMs: 1500 } });
    await expect(sidecar.exec(vmId, "node -e 'for (;;) {}'")).rejects.toMatchObject({
      code: "TIMEOUT",
      errno: "ETIMEDOUT",
      limit: "exec_timeout_ms",
      message: expect.stringMatching(/longer than 1500 ms \(limits.execTimeoutMs\)/),
    });
    await expect(sidecar.exec(vmId, "sleep 30", { timeoutMs: 500 })).rejects.toMatchObject({
      code: "TIMEOUT",
      message: expect.stringMatching(/the call's timeout option/),
    });
    await new Promise((r) => setTimeout(r, 300));
    const running = (await sidecar.call(methods.allProcesses, { vmId })).processes.filter((p) => p.status === "running");
    expect(running).toEqual([]);
    expect((await sidecar.exec(vmId, "echo fine")).stdout).toBe("fine\n");
  });

  it("refuses processes beyond limits.maxProcesses with RESOURCE_EXHAUSTED", async () => {
    const vmId = await sidecar.createVm({ limits: { maxProcesses: 3 } });
    const pids: number[] = [];
    for (let i = 0; i < 3; i++) pids.push((await sidecar.call(methods.spawn, { vmId, command: "sleep", args: ["30"] })).pid);
    await expect(sidecar.call(methods.spawn, { vmId, command: "sleep", args: ["30"] })).rejects.toMatchObject({
      code: "RESOURCE_EXHAUSTED",
      errno: "EAGAIN",
      limit: "max_processes",
    });
    await sidecar.call(methods.killProcess, { vmId, pid: pids[0] });
    await sidecar.call(methods.waitProcess, { vmId, pid: pids[0] });
    const again = await sidecar.call(methods.spawn, { vmId, command: "sleep", args: ["30"] });
    for (const pid of [...pids.slice(1), again.pid]) await sidecar.call(methods.killProcess, { vmId, pid });
  });

  it("keeps at most limits.maxOutputBytes of exec output and says so", async () => {
    const vmId = await sidecar.createVm({ limits: { maxOutputBytes: 1000 } });
    const result = await sidecar.exec(vmId, "head -c 5000 /dev/zero | tr '\\0' a; echo oops >&2");
    expect(result.stdout).toBe("a".repeat(1000));
    expect(result.stdoutTruncated).toBe(true);
    expect(result.stderr).toBe("oops\n");
    expect(result.stderrTruncated).toBe(false);
  });

  it("holds at most limits.maxOutputBytes of unread process output, reporting what it dropped", async () => {
    const vmId = await sidecar.createVm({ limits: { maxOutputBytes: 1000 } });
    const { pid } = await sidecar.call(methods.spawn, {
      vmId,
      command: "sh",
      args: ["-c", "head -c 5000 /dev/zero | tr '\\0' b; echo end"],
    });
    await sidecar.call(methods.waitProcess, { vmId, pid });
    const items = await sidecar.collect(methods.onProcessStdout, { vmId, pid });
    const data = text(Buffer.concat(items.map((i) => i.data)));
    expect(data.length).toBe(1000);
    expect(data.endsWith("bbbend\n")).toBe(true);
    expect(items[0].droppedBytes).toBe(5004 - 1000);
  });

  it("caps the JavaScript heap at limits.memoryMib", async () => {
    const vmId = await sidecar.createVm({ limits: { memoryMib: 32 } });
    const result = await sidecar.exec(
      vmId,
      "node -e 'const a = []; for (let i = 0; i < 200; i++) a.push(new Array(1e6).fill(i)); console.log(\"survived\")'",
    );
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout).not.toContain("survived");
    const roomy = await sidecar.createVm({ limits: { memoryMib: 512 } });
    const fits = await sidecar.exec(
      roomy,
      "node -e 'const a = []; for (let i = 0; i < 20; i++) a.push(new Array(1e6).fill(i)); console.log(\"survived\")'",
    );
    expect(fits.stdout).toBe("survived\n");
  });
});
