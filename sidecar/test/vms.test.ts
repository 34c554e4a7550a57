import { methods } from "@agentos/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytes, TestSidecar, text } from "./harness.js";

let sidecar: TestSidecar;
beforeAll(async () => {
  sidecar = await TestSidecar.start();
});
afterAll(() => sidecar.stop());

describe("VM lifecycle", () => {
  it("creates a VM with bounded default limits, the common command set and Node", async () => {
    const { vmId, limits } = await sidecar.call(methods.create, { config: {} });
    expect(limits).toEqual({
      memoryMib: 128,
      cpuTimeMs: 30_000,
      execTimeoutMs: 30_000,
      maxProcesses: 64,
      maxOutputBytes: 1024 * 1024,
      maxFilesystemBytes: 256 * 1024 * 1024,
      maxOpenFiles: 256,
      maxSockets: 128,
    });
    const result = await sidecar.exec(vmId, "echo hello | tr a-z A-Z; ls /bin | grep -c . ; node -e 'console.log(6*7)'");
    expect(result.exitCode).toBe(0);
    const [upper, commands, node] = result.stdout.trim().split("\n");
    expect(upper).toBe("HELLO");
    expect(Number(commands)).toBeGreaterThan(50);
    expect(node).toBe("42");
    expect(result.stderr).toBe("");
  });

  it("keeps VMs apart", async () => {
    const a = await sidecar.createVm();
    const b = await sidecar.createVm();
    await sidecar.call(methods.writeFile, { vmId: a, path: "/tmp/only-in-a", content: bytes("a") });
    expect((await sidecar.call(methods.exists, { vmId: b, path: "/tmp/only-in-a" })).exists).toBe(false);
    expect((await sidecar.exec(b, "cat /tmp/only-in-a")).exitCode).not.toBe(0);
    await sidecar.call(methods.dispose, { vmId: a });
    expect((await sidecar.exec(b, "echo still here")).stdout).toBe("still here\n");
  });

  it("gives the guest a base environment and nothing from the host", async () => {
    process.env.AGENTOS_TEST_HOST_SECRET = "leak";
    const vmId = await sidecar.createVm({ env: { GREETING: "hi" } });
    const { stdout } = await sidecar.exec(vmId, "echo $HOME $USER $GREETING; env | grep -c AGENTOS_TEST_HOST_SECRET; pwd");
    expect(stdout).toBe("/home/user user hi\n0\n/home/user\n");
    const fromNode = await sidecar.exec(vmId, "node -e 'console.log(process.env.AGENTOS_TEST_HOST_SECRET ?? \"none\", process.cwd())'");
    expect(fromNode.stdout).toBe("none /home/user\n");
  });

  it("disposes idempotently; later calls get VM_DISPOSED, unknown ids NOT_FOUND", async () => {
    const vmId = await sidecar.createVm();
    await sidecar.call(methods.dispose, { vmId });
    await sidecar.call(methods.dispose, { vmId });
    await expect(sidecar.call(methods.readFile, { vmId, path: "/tmp" })).rejects.toMatchObject({ code: "VM_DISPOSED" });
    await expect(sidecar.exec(vmId, "echo")).rejects.toMatchObject({
      code: "VM_DISPOSED",
      message: expect.stringMatching(/AgentOs.create/),
    });
    await expect(sidecar.call(methods.readFile, { vmId: "vm-nope", path: "/tmp" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(sidecar.call(methods.dispose, { vmId: "vm-nope" })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("ends every process, shell, stream and waiter of a VM when it is disposed", async () => {
    const vmId = await sidecar.createVm();
    const { pid } = await sidecar.call(methods.spawn, { vmId, command: "node", args: ["-e", "setInterval(() => console.log('t'), 100)"] });
    const { shellId } = await sidecar.call(methods.openShell, { vmId });
    const out = sidecar.collect(methods.onProcessStdout, { vmId, pid });
    const exit = sidecar.collect(methods.onProcessExit, { vmId, pid });
    const shell = sidecar.collect(methods.onShellData, { vmId, shellId });
    const wait = sidecar.call(methods.waitProcess, { vmId, pid });
    const exec = sidecar.exec(vmId, "sleep 30");
    // Long enough for node to start and print under load (2 cores, other suites running).
    await new Promise((r) => setTimeout(r, 1500));
    await sidecar.call(methods.dispose, { vmId });
    expect((await out).length).toBeGreaterThan(0);
    expect((await exit).map((e) => e.exitCode)).toEqual([137]);
    await shell;
    expect((await wait).exitCode).toBe(137);
    expect((await exec).exitCode).not.toBe(0);
  });

  it("refuses bad configuration with typed errors and keeps serving", async () => {
    await expect(sidecar.createVm({ limits: { cpuTimeMs: 0 } })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(sidecar.createVm({ limits: { maxOpenFiles: 300 } })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringMatching(/at most 256/),
    });
    await expect(sidecar.createVm({ permissions: { fs: [{ effect: 1, pattern: "data/**" }] } })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringMatching(/permissions\.fs\[0\]\.pattern "data\/\*\*" must be an absolute path glob/),
    });
    await expect(sidecar.createVm({ toolKits: [{ name: "Bad Name", tools: [] }] })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringMatching(/toolKits\[0\]\.name/),
    });
    await expect(sidecar.createVm({ software: [{ name: "x", commandDirs: ["/definitely/not/here"] }] })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringMatching(/does not exist/),
    });
    await expect(sidecar.createVm({ mounts: [{ path: "/data", pluginId: "ftp" }] })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringMatching(/known plugins: memory, host_dir, s3/),
    });
    await expect(
      sidecar.createVm({ mounts: [{ path: "/data", pluginId: "host_dir", configJson: '{"hostPath":"/tmp"}' }] }),
    ).rejects.toMatchObject({
      code: "UNIMPLEMENTED",
    });
    await expect(sidecar.createVm({ mounts: [{ path: "data", pluginId: "memory" }] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(sidecar.createVm({ network: { allow: ["nonsense"] } })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    expect((await sidecar.exec(await sidecar.createVm(), "echo ok")).stdout).toBe("ok\n");
  });

  it("mounts in-memory filesystems, visible to the API, the shell and Node; read-only ones refuse writes", async () => {
    const vmId = await sidecar.createVm({
      mounts: [
        { path: "/data", pluginId: "memory" },
        { path: "/ro", pluginId: "memory", readOnly: true },
      ],
    });
    await sidecar.call(methods.writeFile, { vmId, path: "/data/a.txt", content: bytes("from the API") });
    expect((await sidecar.exec(vmId, "cat /data/a.txt")).stdout).toBe("from the API");
    await sidecar.exec(vmId, 'node -e \'require("fs").writeFileSync("/data/b.txt", "from node")\'');
    expect(text((await sidecar.call(methods.readFile, { vmId, path: "/data/b.txt" })).content)).toBe("from node");
    await expect(sidecar.call(methods.writeFile, { vmId, path: "/ro/x", content: bytes("x") })).rejects.toMatchObject({
      code: "PERMISSION_DENIED",
      errno: "EROFS",
    });
    await sidecar.call(methods.mountFs, { vmId, mount: { path: "/later", pluginId: "memory" } });
    await sidecar.call(methods.writeFile, { vmId, path: "/later/c", content: bytes("c") });
    expect((await sidecar.exec(vmId, "cat /later/c")).stdout).toBe("c");
    await sidecar.call(methods.unmountFs, { vmId, path: "/later" });
    expect((await sidecar.call(methods.exists, { vmId, path: "/later/c" })).exists).toBe(false);
  });

  it("calls the client back over the sidecar→client service", async () => {
    const answer = await sidecar.call(methods.pingClient, { nonce: "n-1" });
    expect(answer.nonce).toBe("pong:n-1");
    expect(answer.roundTripMs).toBeGreaterThanOrEqual(0);
  });
});
