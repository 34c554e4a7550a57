import { createServer } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentOs, AgentOsError } from "../src/index.js";

let vm: AgentOs;
beforeAll(async () => {
  vm = await AgentOs.create({ env: { APP: "quick" } });
});
afterAll(() => vm.dispose());

const decode = (b: Uint8Array) => new TextDecoder().decode(b);

describe("AgentOs", () => {
  it("reports the limits in force", () => {
    expect(vm.limits).toEqual({
      memoryMiB: 128,
      cpuTimeMs: 30_000,
      execTimeoutMs: 30_000,
      maxProcesses: 64,
      maxOpenFiles: 256,
      maxSockets: 128,
      maxOutputBytes: 1_048_576,
      maxFilesystemBytes: 268_435_456,
    });
  });

  it("runs commands and scripts", async () => {
    expect(await vm.exec("echo $APP | rev")).toMatchObject({ exitCode: 0, stdout: "kciuq\n", stderr: "" });
    expect((await vm.exec("cat", { stdin: "piped" })).stdout).toBe("piped");
    expect((await vm.exec("pwd", { cwd: "/tmp" })).stdout).toBe("/tmp\n");
  });

  it("moves files in and out", async () => {
    await vm.writeFile("/home/user/note.txt", "héllo");
    expect(decode(await vm.readFile("/home/user/note.txt"))).toBe("héllo");
    const results = await vm.writeFiles([
      { path: "/home/user/a/b.txt", content: "b" },
      { path: "/home/user/c.bin", content: new Uint8Array([1, 2, 3]) },
    ]);
    expect(results).toEqual([
      { path: "/home/user/a/b.txt", success: true },
      { path: "/home/user/c.bin", success: true },
    ]);
    const read = await vm.readFiles(["/home/user/c.bin", "/home/user/missing"]);
    expect(read[0]).toEqual({ path: "/home/user/c.bin", content: new Uint8Array([1, 2, 3]) });
    expect(read[1]).toMatchObject({ path: "/home/user/missing", content: null, error: expect.stringMatching(/ENOENT/) });
    expect((await vm.readdir("/home/user")).sort()).toEqual([".brush_history", "a", "c.bin", "note.txt"]);
    expect(await vm.readdirRecursive("/home/user/a")).toEqual([{ path: "/home/user/a/b.txt", type: "file", size: 1 }]);
    expect(await vm.stat("/home/user/note.txt")).toMatchObject({ size: 6, isDirectory: false });
    await vm.move("/home/user/a", "/home/user/z");
    expect(await vm.exists("/home/user/a")).toBe(false);
    await vm.mkdir("/home/user/p/q", { recursive: true });
    await vm.delete("/home/user/p", { recursive: true });
    expect(await vm.exists("/home/user/p")).toBe(false);
    // Each call returns its own bytes, not a view into a shared buffer.
    const bytes = await vm.readFile("/home/user/c.bin");
    expect(bytes.byteOffset).toBe(0);
    expect(bytes.buffer.byteLength).toBe(3);
  });

  it("raises typed errors", async () => {
    const error = await vm.readFile("/nope").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AgentOsError);
    expect(error).toMatchObject({ name: "AgentOsError", code: "NOT_FOUND", errno: "ENOENT" });
    await expect(vm.readFile("relative")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(vm.snapshotRootFilesystem()).rejects.toMatchObject({ code: "UNIMPLEMENTED" });
    await expect(AgentOs.create({ rootFilesystem: {} })).rejects.toMatchObject({ code: "UNIMPLEMENTED" });
    await expect(AgentOs.create({ permissions: { fs: [{ effect: "deny", pattern: "relative/**" }] } })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringMatching(/permissions\.fs\[0\]/),
    });
    await expect(AgentOs.create({ permissions: { files: [] } as unknown as Record<string, never> })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringMatching(/not a scope/),
    });
    await expect(AgentOs.create({ permissions: { network: [{ effect: "allow", pattern: "bad" }] } })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(
      AgentOs.create({ permissions: { fs: () => ({ allow: true }) } as unknown as Record<string, never> }),
    ).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/function/) });
  });

  it("refuses a call that would not fit in one frame, at once, and keeps working", async () => {
    const started = Date.now();
    await expect(vm.writeFile("/tmp/huge", new Uint8Array(17 * 1024 * 1024))).rejects.toMatchObject({
      code: "RESOURCE_EXHAUSTED",
      limit: "max_frame_bytes",
    });
    expect(Date.now() - started).toBeLessThan(2000);
    await vm.exec("head -c 17000000 /dev/zero > /tmp/huge");
    await expect(vm.readFile("/tmp/huge")).rejects.toMatchObject({
      code: "RESOURCE_EXHAUSTED",
      message: expect.stringMatching(/larger --max-frame-bytes/),
    });
    expect((await vm.stat("/tmp/huge")).size).toBe(17_000_000);
    await vm.delete("/tmp/huge");
  });

  it("spawns processes and streams their output", async () => {
    const { pid } = await vm.spawn("node", ["-e", "process.stdin.on('data', d => process.stdout.write(String(d).toUpperCase()))"]);
    const out: string[] = [];
    let exitCode: number | undefined;
    vm.onProcessStdout(pid, (data) => out.push(decode(data)));
    vm.onProcessExit(pid, (code) => {
      exitCode = code;
    });
    await vm.writeProcessStdin(pid, "abc");
    await vm.closeProcessStdin(pid);
    expect(await vm.waitProcess(pid)).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(out.join("")).toBe("ABC");
    expect(exitCode).toBe(0);
    expect(await vm.getProcess(pid)).toMatchObject({ pid, command: "node", running: false, exitCode: 0 });
    expect((await vm.listProcesses()).map((p) => p.pid)).toContain(pid);
    const all = await vm.allProcesses();
    expect(all.every((p) => p.exitTime === null || typeof p.exitTime === "number")).toBe(true);
    expect(Array.isArray(await vm.processTree())).toBe(true);
  });

  it("stops and kills processes", async () => {
    const { pid } = await vm.spawn("sleep", ["30"]);
    await vm.killProcess(pid);
    expect(await vm.waitProcess(pid)).not.toBe(0);
    await vm.stopProcess(pid);
  });

  it("reports subscription failures to onError", async () => {
    const error = await new Promise<Error>((resolve) => vm.onProcessStdout(424242, () => {}, { onError: resolve }));
    expect(error).toMatchObject({ code: "NOT_FOUND" });
  });

  it("drives a shell", async () => {
    const { shellId } = await vm.openShell({ cols: 80, rows: 24 });
    let screen = "";
    vm.onShellData(shellId, (data) => {
      screen += decode(data);
    });
    await vm.writeShell(shellId, "echo shell-$((1+1))\n");
    for (let i = 0; i < 60 && !screen.includes("shell-2"); i++) await new Promise((r) => setTimeout(r, 50));
    expect(screen).toContain("shell-2");
    await vm.resizeShell(shellId, 100, 30);
    await vm.closeShell(shellId);
  });

  it("fetches from a server inside the VM", async () => {
    const { pid } = await vm.spawn("node", [
      "-e",
      "require('http').createServer((q, r) => r.end('vm says ' + q.url)).listen(3456, () => console.log('up'))",
    ]);
    await new Promise<void>((resolve) => {
      const stop = vm.onProcessStdout(pid, (d) => {
        if (decode(d).includes("up")) {
          stop();
          resolve();
        }
      });
    });
    const response = await vm.fetch(3456, new Request("http://vm.local/path?q=1"));
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("vm says /path?q=1");
    await vm.killProcess(pid);
  });

  it("mounts an in-memory filesystem", async () => {
    await vm.mountFs("/scratch", { id: "memory" });
    await vm.writeFile("/scratch/x", "x");
    expect((await vm.exec("cat /scratch/x")).stdout).toBe("x");
    await vm.unmountFs("/scratch");
    await expect(vm.mountFs("/s3", { id: "s3", config: { bucket: "b" } })).rejects.toMatchObject({ code: "UNIMPLEMENTED" });
  });

  it("applies the network policy given at creation", async () => {
    const server = createServer((_q, r) => r.end("host"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const allowed = await AgentOs.create({ network: { allow: [`127.0.0.1:${port}`] } });
    const script = `fetch("http://127.0.0.1:${port}").then(r => r.text()).then(console.log, e => console.log("denied"))`;
    expect((await allowed.exec(`node -e '${script}'`)).stdout).toBe("host\n");
    expect((await vm.exec(`node -e '${script}'`)).stdout).toBe("denied\n");
    await allowed.dispose();
    server.close();
  });
});
