import { type CallToolResponse, type MethodDescriptor, type MethodName, methods } from "@agentos/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientCoverage, SidecarUnderTest, uncovered } from "../src/sidecar-under-test.js";

/**
 * Every rpc the sidecar serves, through its happy path and its main error
 * path, in raw frames. The last test checks that nothing was left out.
 */
let sidecar: SidecarUnderTest;
let vmId: string;
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

beforeAll(async () => {
  sidecar = await SidecarUnderTest.open();
  vmId = (await sidecar.call(methods.create, { config: { limits: { cpuTimeMs: 20_000 } } as never })).vmId;
});
afterAll(async () => {
  await sidecar.end();
});

describe("VmService", () => {
  it("create / dispose", async () => {
    const created = await sidecar.call(methods.create, { config: {} as never });
    expect(created.vmId).not.toBe("");
    expect(created.limits?.memoryMib).toBeGreaterThan(0);
    await sidecar.call(methods.dispose, { vmId: created.vmId });
    await expect(sidecar.call(methods.create, { config: { limits: { cpuTimeMs: 0 } } as never })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(sidecar.call(methods.dispose, { vmId: "vm-unknown" })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("pingClient calls the client back over ClientService (sidecar→client) and relays its errors", async () => {
    expect(await sidecar.call(methods.pingClient, { nonce: "abc" })).toMatchObject({ nonce: "pong:abc" });
    // This suite's ClientService answers the nonce "fail" with FAILED_PRECONDITION.
    await expect(sidecar.call(methods.pingClient, { nonce: "fail" })).rejects.toMatchObject({ code: "FAILED_PRECONDITION" });
  });
});

describe("ClientService.CallTool (host toolkits)", () => {
  it("runs agentos-<kit> <tool> in the VM through the client, mapping each answer to an exit status", async () => {
    const schema = { type: "object", properties: { n: { type: "integer" }, loud: { type: "boolean" } }, required: ["n"] };
    const tools = ["double", "picky", "broken", "silent"].map((name) => ({
      name,
      description: `the ${name} tool`,
      inputSchemaJson: JSON.stringify(schema),
      examples: [],
      timeoutMs: name === "silent" ? 300 : undefined,
    }));
    const kitVm = (
      await sidecar.call(methods.create, { config: { toolKits: [{ name: "conf", description: "conformance kit", tools }] } as never })
    ).vmId;
    const seen: unknown[] = [];
    sidecar.serveClient(methods.callTool, (request): Partial<CallToolResponse> | Promise<never> => {
      seen.push({ vmId: request.vmId, toolkit: request.toolkit, tool: request.tool, input: JSON.parse(request.inputJson) });
      const input = JSON.parse(request.inputJson) as { n: number };
      if (request.tool === "double") return { outcome: { $case: "resultJson", value: JSON.stringify({ doubled: input.n * 2 }) } };
      if (request.tool === "picky") return { outcome: { $case: "invalidInput", value: "n: too small" } };
      if (request.tool === "broken") return { outcome: { $case: "error", value: "it broke" } };
      return new Promise(() => {}); // "silent" never answers
    });
    try {
      const run = (command: string) => sidecar.call(methods.exec, { vmId: kitVm, command });
      expect(await run("agentos-conf double --n 21 --loud")).toMatchObject({ exitCode: 0, stdout: '{"doubled":42}\n' });
      expect(seen).toEqual([{ vmId: kitVm, toolkit: "conf", tool: "double", input: { n: 21, loud: true } }]);
      expect(await run("agentos-conf picky --n 1")).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("n: too small") });
      expect(await run("agentos-conf broken --n 1")).toMatchObject({ exitCode: 1, stderr: "agentos-conf broken: it broke\n" });
      expect(await run("agentos-conf silent --n 1")).toMatchObject({
        exitCode: 124,
        stderr: expect.stringContaining("timed out after 300 ms"),
      });
      // Flags are checked against the schema before the client is asked.
      expect(await run("agentos-conf double --n 1.5")).toMatchObject({
        exitCode: 2,
        stderr: expect.stringContaining("expects an integer"),
      });
      expect(await run("agentos-conf double")).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("missing --n") });
      expect(seen).toHaveLength(4);
      expect((await run("agentos list-tools")).stdout).toContain("agentos-conf  conformance kit");
      await expect(
        sidecar.call(methods.create, {
          config: { toolKits: [{ name: "conf", description: "", tools: [{ name: "x", inputSchemaJson: '{"type":"string"}' }] }] } as never,
        }),
      ).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/must describe an object/) });
    } finally {
      sidecar.serveClient(methods.callTool, undefined);
      await sidecar.call(methods.dispose, { vmId: kitVm });
    }
  });
});

describe("FilesystemService", () => {
  it("writeFile / readFile", async () => {
    await sidecar.call(methods.writeFile, { vmId, path: "/tmp/c.txt", content: bytes("conformance") });
    expect(text((await sidecar.call(methods.readFile, { vmId, path: "/tmp/c.txt" })).content)).toBe("conformance");
    await expect(sidecar.call(methods.readFile, { vmId, path: "/tmp/missing" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(sidecar.call(methods.writeFile, { vmId, path: "tmp/rel", content: bytes("x") })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
  });

  it("writeFiles / readFiles", async () => {
    const written = await sidecar.call(methods.writeFiles, { vmId, files: [{ path: "/tmp/b/1", content: bytes("1") }] });
    expect(written.results[0].success).toBe(true);
    const read = await sidecar.call(methods.readFiles, { vmId, paths: ["/tmp/b/1", "/tmp/b/2"] });
    expect(read.results[1].error?.errno).toBe("ENOENT");
    await expect(sidecar.call(methods.writeFiles, { vmId: "vm-unknown", files: [] })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(sidecar.call(methods.readFiles, { vmId: "vm-unknown", paths: [] })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("mkdir / readdir / readdirRecursive / stat / exists", async () => {
    await sidecar.call(methods.mkdir, { vmId, path: "/tmp/d/e", recursive: true });
    expect((await sidecar.call(methods.readdir, { vmId, path: "/tmp/d" })).names).toEqual(["e"]);
    expect((await sidecar.call(methods.readdirRecursive, { vmId, path: "/tmp/d" })).entries).toEqual([
      { path: "/tmp/d/e", type: "directory", size: expect.any(Number) },
    ]);
    expect((await sidecar.call(methods.stat, { vmId, path: "/tmp/d" })).stat?.isDirectory).toBe(true);
    expect((await sidecar.call(methods.exists, { vmId, path: "/tmp/d/e" })).exists).toBe(true);
    await expect(sidecar.call(methods.mkdir, { vmId, path: "/tmp/d" })).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
    await expect(sidecar.call(methods.readdir, { vmId, path: "/tmp/none" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(sidecar.call(methods.readdirRecursive, { vmId, path: "/tmp/none" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(sidecar.call(methods.stat, { vmId, path: "/tmp/none" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(sidecar.call(methods.exists, { vmId, path: "/tmp/../x" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("move / delete", async () => {
    await sidecar.call(methods.move, { vmId, from: "/tmp/d", to: "/tmp/moved" });
    await sidecar.call(methods.delete, { vmId, path: "/tmp/moved", recursive: true });
    await expect(sidecar.call(methods.move, { vmId, from: "/tmp/d", to: "/tmp/x" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(sidecar.call(methods.delete, { vmId, path: "/tmp/moved" })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("mountFs / unmountFs", async () => {
    await sidecar.call(methods.mountFs, { vmId, mount: { path: "/mnt/m", pluginId: "memory", configJson: "{}", readOnly: false } });
    await sidecar.call(methods.unmountFs, { vmId, path: "/mnt/m" });
    await expect(
      sidecar.call(methods.mountFs, { vmId, mount: { path: "/mnt/x", pluginId: "nfs", configJson: "{}", readOnly: false } }),
    ).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(sidecar.call(methods.unmountFs, { vmId, path: "relative" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("snapshotRootFilesystem answers with a typed error until layers exist", async () => {
    await expect(sidecar.call(methods.snapshotRootFilesystem, { vmId })).rejects.toMatchObject({ code: "UNIMPLEMENTED" });
  });
});

describe("ProcessService", () => {
  it("exec", async () => {
    expect(await sidecar.call(methods.exec, { vmId, command: "echo one | tr a-z A-Z" })).toMatchObject({ exitCode: 0, stdout: "ONE\n" });
    await expect(sidecar.call(methods.exec, { vmId, command: "sleep 5", timeoutMs: 200 })).rejects.toMatchObject({ code: "TIMEOUT" });
  });

  it("spawn / writeProcessStdin / closeProcessStdin / onProcessStdout / onProcessStderr / onProcessExit / waitProcess", async () => {
    const { pid } = await sidecar.call(methods.spawn, {
      vmId,
      command: "sh",
      args: ["-c", "read line; echo out-$line; echo err-$line >&2; exit 5"],
    });
    const stdout = sidecar.stream(methods.onProcessStdout, { vmId, pid });
    const stderr = sidecar.stream(methods.onProcessStderr, { vmId, pid });
    const exit = sidecar.stream(methods.onProcessExit, { vmId, pid });
    await sidecar.call(methods.writeProcessStdin, { vmId, pid, data: bytes("x\n") });
    await sidecar.call(methods.closeProcessStdin, { vmId, pid });
    expect((await sidecar.call(methods.waitProcess, { vmId, pid })).exitCode).toBe(5);
    expect(text(Buffer.concat((await stdout.done).map((i) => i.data)))).toBe("out-x\n");
    expect(text(Buffer.concat((await stderr.done).map((i) => i.data)))).toBe("err-x\n");
    expect((await exit.done).map((e) => e.exitCode)).toEqual([5]);
    await expect(sidecar.call(methods.spawn, { vmId, command: "no-such-binary" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(sidecar.call(methods.writeProcessStdin, { vmId, pid, data: bytes("late") })).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
    });
    await expect(sidecar.call(methods.closeProcessStdin, { vmId, pid: 999_999 })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(sidecar.call(methods.waitProcess, { vmId, pid: 999_999 })).rejects.toMatchObject({ code: "NOT_FOUND" });
    const pidStreams = [methods.onProcessStdout, methods.onProcessStderr, methods.onProcessExit] as MethodDescriptor<
      { vmId: string; pid: number },
      unknown,
      "server_streaming"
    >[];
    for (const method of pidStreams) {
      await expect(sidecar.stream(method, { vmId, pid: 999_999 }).done).rejects.toMatchObject({ code: "NOT_FOUND" });
    }
  });

  it("listProcesses / getProcess / allProcesses / processTree / stopProcess / killProcess", async () => {
    const { pid } = await sidecar.call(methods.spawn, { vmId, command: "sleep", args: ["30"] });
    expect((await sidecar.call(methods.listProcesses, { vmId })).processes.map((p) => p.pid)).toContain(pid);
    expect((await sidecar.call(methods.getProcess, { vmId, pid })).process).toMatchObject({ pid, running: true });
    expect((await sidecar.call(methods.allProcesses, { vmId })).processes.map((p) => p.pid)).toContain(pid);
    expect((await sidecar.call(methods.processTree, { vmId })).roots.map((n) => n.process?.pid)).toContain(pid);
    await sidecar.call(methods.stopProcess, { vmId, pid });
    await sidecar.call(methods.waitProcess, { vmId, pid });
    const { pid: second } = await sidecar.call(methods.spawn, { vmId, command: "sleep", args: ["30"] });
    await sidecar.call(methods.killProcess, { vmId, pid: second });
    expect((await sidecar.call(methods.waitProcess, { vmId, pid: second })).exitCode).not.toBe(0);
    for (const method of [methods.listProcesses, methods.allProcesses, methods.processTree] as MethodDescriptor<
      { vmId: string },
      unknown,
      "unary"
    >[]) {
      await expect(sidecar.call(method, { vmId: "vm-unknown" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    }
    for (const method of [methods.getProcess, methods.stopProcess, methods.killProcess] as MethodDescriptor<
      { vmId: string; pid: number },
      unknown,
      "unary"
    >[]) {
      await expect(sidecar.call(method, { vmId, pid: 999_999 })).rejects.toMatchObject({ code: "NOT_FOUND" });
    }
  });

  it("fetch", async () => {
    const { pid } = await sidecar.call(methods.spawn, {
      vmId,
      command: "node",
      args: ["-e", "require('http').createServer((q, r) => r.end('ok:' + q.url)).listen(9090, () => console.log('ready'))"],
    });
    const out = sidecar.stream(methods.onProcessStdout, { vmId, pid });
    while (!out.items.some((i) => text(i.data).includes("ready"))) await new Promise((r) => setTimeout(r, 50));
    const response = await sidecar.call(methods.fetch, { vmId, port: 9090, method: "GET", path: "/p" });
    expect([response.status, text(response.body)]).toEqual([200, "ok:/p"]);
    await sidecar.call(methods.killProcess, { vmId, pid });
    await out.done;
    await expect(sidecar.call(methods.fetch, { vmId, port: 9091, method: "GET", path: "/" })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("ShellService", () => {
  it("openShell / writeShell / onShellData / resizeShell / closeShell", async () => {
    const { shellId } = await sidecar.call(methods.openShell, { vmId, cols: 80, rows: 24 });
    const data = sidecar.stream(methods.onShellData, { vmId, shellId });
    await sidecar.call(methods.writeShell, { vmId, shellId, data: bytes("echo conformance-$((2*3))\n") });
    while (!text(Buffer.concat(data.items.map((i) => i.data))).includes("conformance-6")) await new Promise((r) => setTimeout(r, 50));
    await sidecar.call(methods.resizeShell, { vmId, shellId, cols: 100, rows: 40 });
    await sidecar.call(methods.closeShell, { vmId, shellId });
    await data.done;
    await expect(sidecar.call(methods.openShell, { vmId, cols: 0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(sidecar.call(methods.writeShell, { vmId, shellId, data: bytes("x") })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(sidecar.call(methods.resizeShell, { vmId, shellId, cols: 1, rows: 1 })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(sidecar.call(methods.closeShell, { vmId, shellId })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(sidecar.stream(methods.onShellData, { vmId, shellId }).done).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("coverage", () => {
  /** rpcs without a success path yet, and why. */
  const NO_HAPPY_PATH: Partial<Record<MethodName, string>> = {
    snapshotRootFilesystem: "answers UNIMPLEMENTED until VMs have layered root filesystems",
  };
  /** rpcs whose error path cannot be provoked, and why. */
  const NO_ERROR_PATH: Partial<Record<MethodName, string>> = {};
  /**
   * Services covered, and checked the same way, by a file of their own
   * (vitest isolates test files, so coverage is recorded per file).
   */
  const CHECKED_ELSEWHERE: Record<string, string> = {
    SessionService: "test/sessions.test.ts",
  };

  it("exercised every sidecar rpc on its happy path and its main error path", () => {
    const services = new Set(Object.values(methods).map((m) => m.service));
    for (const service of Object.keys(CHECKED_ELSEWHERE)) expect(services).toContain(service);
    expect(uncovered((service) => !(service in CHECKED_ELSEWHERE), { happy: NO_HAPPY_PATH, error: NO_ERROR_PATH })).toEqual([]);
  });

  /** Client rpcs the sidecar calls in another file's tests. */
  const CLIENT_CALLS_ELSEWHERE: Partial<Record<MethodName, string>> = {
    requestPermission: "test/sessions.test.ts (agent permission requests)",
  };

  it("saw the sidecar call every client rpc (ClientService)", () => {
    const notCalled = Object.values(methods)
      .filter((m) => m.implementedBy === "client" && !(m.localName in CLIENT_CALLS_ELSEWHERE))
      .map((m) => m.localName)
      .filter((name) => !clientCoverage.has(name));
    expect(notCalled).toEqual([]);
  });
});
