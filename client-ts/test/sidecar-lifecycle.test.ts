import { execFileSync, spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AgentOs } from "../src/index.js";

/** The sidecar process behind a VM (read from the client's internals, for tests only). */
const sidecarPid = (vm: AgentOs): number => (vm as unknown as { connection: { child: { pid: number } } }).connection.child.pid;
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const childrenOf = (pid: number): number[] => {
  try {
    return execFileSync("pgrep", ["-P", String(pid)])
      .toString()
      .trim()
      .split("\n")
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
};
const gone = async (pids: number[], ms = 8000) => {
  const until = Date.now() + ms;
  while (pids.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  return pids.filter(alive);
};

describe("sidecar lifecycle", () => {
  it("shares one sidecar between VMs and exits, with its helpers, after the last is disposed", async () => {
    const a = await AgentOs.create();
    const b = await AgentOs.create();
    expect(sidecarPid(a)).toBe(sidecarPid(b));
    const pid = sidecarPid(a);
    // Start a JavaScript process so the native V8 helper is running too.
    const { pid: guest } = await a.spawn("node", ["-e", "setInterval(() => {}, 1000)"]);
    await new Promise((r) => setTimeout(r, 500));
    const helpers = childrenOf(pid);
    expect(helpers.length).toBeGreaterThan(0);
    await a.dispose();
    await a.dispose();
    expect(alive(pid)).toBe(true);
    await b.dispose();
    expect(await gone([pid, ...helpers])).toEqual([]);
    await expect(a.exec("echo")).rejects.toMatchObject({ code: "VM_DISPOSED" });
    expect(guest).toBeGreaterThan(0);
    // A new VM starts a new sidecar.
    const c = await AgentOs.create();
    expect(sidecarPid(c)).not.toBe(pid);
    await c.dispose();
  });

  it("keeps a sidecar for a VM created while another is being disposed, and never hands out a closing one", async () => {
    const first = await AgentOs.create();
    const pid = sidecarPid(first);
    const disposing = first.dispose();
    const joined = await AgentOs.create();
    await disposing;
    expect(sidecarPid(joined)).toBe(pid);
    expect((await joined.exec("echo joined")).stdout).toBe("joined\n");
    // The last VM is gone: the sidecar is closing, though it may not have exited yet.
    await joined.dispose();
    const next = await AgentOs.create();
    expect(sidecarPid(next)).not.toBe(pid);
    expect((await next.exec("echo fine")).stdout).toBe("fine\n");
    await next.dispose();
  });

  it("creates a VM while the last one is disposed concurrently", async () => {
    for (let i = 0; i < 5; i++) {
      const last = await AgentOs.create();
      const [, created] = await Promise.all([last.dispose(), AgentOs.create()]);
      expect((await created.exec("echo ok")).stdout).toBe("ok\n");
      await created.dispose();
    }
  });

  it("gives a VM its own sidecar on request", async () => {
    const shared = await AgentOs.create();
    const dedicated = await AgentOs.create({ sidecar: { dedicated: true } });
    expect(sidecarPid(dedicated)).not.toBe(sidecarPid(shared));
    await dedicated.dispose();
    expect(await gone([sidecarPid(dedicated)])).toEqual([]);
    expect((await shared.exec("echo still")).stdout).toBe("still\n");
    await shared.dispose();
  });

  it("passes sidecar arguments through (a larger frame limit)", async () => {
    const vm = await AgentOs.create({ sidecar: { dedicated: true, args: ["--max-frame-bytes", String(32 * 1024 * 1024)] } });
    const content = new Uint8Array(20 * 1024 * 1024).fill(7);
    await vm.writeFile("/tmp/twenty", content);
    expect((await vm.readFile("/tmp/twenty")).length).toBe(content.length);
    await vm.dispose();
  });

  it("rejects pending calls at once when the sidecar dies, and recovers with a new one", async () => {
    const vm = await AgentOs.create({ sidecar: { dedicated: true } });
    const pending = vm.exec("sleep 30");
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    process.kill(sidecarPid(vm), "SIGKILL");
    await expect(pending).rejects.toMatchObject({
      code: "UNAVAILABLE",
      message: expect.stringMatching(/exited unexpectedly \(signal SIGKILL\)/),
    });
    expect(Date.now() - started).toBeLessThan(2000);
    await expect(vm.readFile("/tmp")).rejects.toMatchObject({ code: "UNAVAILABLE" });
    await vm.dispose();
    const fresh = await AgentOs.create();
    expect((await fresh.exec("echo recovered")).stdout).toBe("recovered\n");
    await fresh.dispose();
  });

  it("reports a sidecar of another version as VERSION_MISMATCH", async () => {
    const fake = join(tmpdir(), `agentos-fake-sidecar-${process.pid}.mjs`);
    const proto = fileURLToPath(new URL("../../proto/dist/index.js", import.meta.url));
    writeFileSync(
      fake,
      `import { encodeFrame } from ${JSON.stringify(proto)};
process.stdin.once("data", () => {
  process.stdout.write(encodeFrame({ kind: { $case: "helloRejected", value: { sidecarVersion: "9.9.9", sidecarSchemaHash: "x", clientVersion: "", clientSchemaHash: "", message: "client 0.1.0 does not match sidecar 9.9.9" } } }));
  process.stdin.destroy();
});`,
    );
    try {
      await expect(AgentOs.create({ sidecar: { command: process.execPath, args: [fake] } })).rejects.toMatchObject({
        code: "VERSION_MISMATCH",
        message: "client 0.1.0 does not match sidecar 9.9.9",
      });
    } finally {
      rmSync(fake, { force: true });
    }
  });

  it("lets a program that forgets dispose() exit, and its sidecar with it", async () => {
    const script = join(tmpdir(), `agentos-forgetful-${process.pid}.mjs`);
    const client = fileURLToPath(new URL("../dist/index.js", import.meta.url));
    writeFileSync(
      script,
      `import { AgentOs } from ${JSON.stringify(client)};
const vm = await AgentOs.create();
const { stdout } = await vm.exec("echo done");
const pid = vm.connection.child.pid;
console.log(JSON.stringify({ stdout, pid }));`,
    );
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    child.stdout.on("data", (d) => {
      output += d;
    });
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    rmSync(script, { force: true });
    expect(code).toBe(0);
    const { stdout, pid } = JSON.parse(output);
    expect(stdout).toBe("done\n");
    expect(await gone([pid])).toEqual([]);
  });
});
