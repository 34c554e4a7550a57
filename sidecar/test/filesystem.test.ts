import { methods } from "@agentos/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytes, TestSidecar, text } from "./harness.js";

let sidecar: TestSidecar;
let vmId: string;
beforeAll(async () => {
  sidecar = await TestSidecar.start();
  vmId = await sidecar.createVm({ limits: { maxFilesystemBytes: 4 * 1024 * 1024 } });
});
afterAll(() => sidecar.stop());

describe("filesystem", () => {
  it("writes and reads bytes exactly, including binary and empty files", async () => {
    const binary = new Uint8Array(256).map((_, i) => i);
    await sidecar.call(methods.writeFile, { vmId, path: "/tmp/bin", content: binary });
    expect(Buffer.from((await sidecar.call(methods.readFile, { vmId, path: "/tmp/bin" })).content).equals(binary)).toBe(true);
    await sidecar.call(methods.writeFile, { vmId, path: "/tmp/empty", content: new Uint8Array() });
    expect((await sidecar.call(methods.readFile, { vmId, path: "/tmp/empty" })).content.length).toBe(0);
  });

  it("shares one filesystem between the API, the shell and Node", async () => {
    await sidecar.call(methods.writeFile, { vmId, path: "/home/user/in.txt", content: bytes("from the host\n") });
    const shell = await sidecar.exec(vmId, "cat /home/user/in.txt | tr a-z A-Z > /home/user/out.txt; echo x > /home/user/in.txt");
    expect(shell.exitCode).toBe(0);
    expect(text((await sidecar.call(methods.readFile, { vmId, path: "/home/user/out.txt" })).content)).toBe("FROM THE HOST\n");
    // A truncating redirect replaces the old content rather than overwriting its start.
    expect(text((await sidecar.call(methods.readFile, { vmId, path: "/home/user/in.txt" })).content)).toBe("x\n");
    const node = await sidecar.exec(
      vmId,
      `node -e 'const fs = require("fs"); fs.appendFileSync("/home/user/out.txt", "+node"); console.log(fs.readdirSync("/home/user").filter(n => !n.startsWith(".")).sort().join(","))'`,
    );
    expect(node.stdout).toBe("in.txt,out.txt\n");
    expect(text((await sidecar.call(methods.readFile, { vmId, path: "/home/user/out.txt" })).content)).toBe("FROM THE HOST\n+node");
  });

  it("reads and writes batches, reporting failures per file", async () => {
    const written = await sidecar.call(methods.writeFiles, {
      vmId,
      files: [
        { path: "/batch/deep/a.txt", content: bytes("a") },
        { path: "relative.txt", content: bytes("b") },
      ],
    });
    expect(written.results.map((r) => [r.path, r.success, r.error?.code ?? 0])).toEqual([
      ["/batch/deep/a.txt", true, 0],
      ["relative.txt", false, 1],
    ]);
    const read = await sidecar.call(methods.readFiles, { vmId, paths: ["/batch/deep/a.txt", "/batch/missing"] });
    expect(text(read.results[0].content as Uint8Array)).toBe("a");
    expect(read.results[1].content).toBeUndefined();
    expect(read.results[1].error?.errno).toBe("ENOENT");
  });

  it("makes, lists, walks, stats, moves and deletes directories", async () => {
    await sidecar.call(methods.mkdir, { vmId, path: "/w/a/b", recursive: true });
    await sidecar.call(methods.mkdir, { vmId, path: "/w/a/b", recursive: true });
    await expect(sidecar.call(methods.mkdir, { vmId, path: "/w/x/y" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await sidecar.call(methods.writeFile, { vmId, path: "/w/a/b/f.txt", content: bytes("12345") });
    await sidecar.call(methods.writeFile, { vmId, path: "/w/a/skip/g.txt", content: bytes("g") });
    expect((await sidecar.call(methods.readdir, { vmId, path: "/w/a" })).names.sort()).toEqual(["b", "skip"]);
    const walked = await sidecar.call(methods.readdirRecursive, { vmId, path: "/w", exclude: ["skip"] });
    expect(walked.entries.map((e) => [e.path, e.type, e.size]).filter(([, type]) => type === "file")).toEqual([
      ["/w/a/b/f.txt", "file", 5],
    ]);
    expect(walked.entries.map((e) => e.path)).not.toContain("/w/a/skip");
    const shallow = await sidecar.call(methods.readdirRecursive, { vmId, path: "/w", maxDepth: 0 });
    expect(shallow.entries.map((e) => e.path)).toEqual(["/w/a"]);
    const stat = (await sidecar.call(methods.stat, { vmId, path: "/w/a/b/f.txt" })).stat;
    expect(stat).toMatchObject({ size: 5, isDirectory: false, isSymbolicLink: false });
    expect((await sidecar.call(methods.stat, { vmId, path: "/w/a" })).stat?.isDirectory).toBe(true);
    await sidecar.call(methods.move, { vmId, from: "/w/a", to: "/w/moved" });
    expect((await sidecar.call(methods.exists, { vmId, path: "/w/a" })).exists).toBe(false);
    expect(text((await sidecar.call(methods.readFile, { vmId, path: "/w/moved/b/f.txt" })).content)).toBe("12345");
    await expect(sidecar.call(methods.delete, { vmId, path: "/w/moved" })).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
      errno: "ENOTEMPTY",
    });
    await sidecar.call(methods.delete, { vmId, path: "/w/moved", recursive: true });
    expect((await sidecar.call(methods.exists, { vmId, path: "/w/moved" })).exists).toBe(false);
    await expect(sidecar.call(methods.move, { vmId, from: "/w", to: "/w/inside" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("moves files across mounts by copying", async () => {
    await sidecar.call(methods.mountFs, { vmId, mount: { path: "/mnt/mem", pluginId: "memory" } });
    await sidecar.call(methods.writeFile, { vmId, path: "/tmp/cross.txt", content: bytes("cross") });
    await sidecar.call(methods.move, { vmId, from: "/tmp/cross.txt", to: "/mnt/mem/cross.txt" });
    expect(text((await sidecar.call(methods.readFile, { vmId, path: "/mnt/mem/cross.txt" })).content)).toBe("cross");
    expect((await sidecar.call(methods.exists, { vmId, path: "/tmp/cross.txt" })).exists).toBe(false);
  });

  it("refuses relative and non-normalised paths with INVALID_ARGUMENT", async () => {
    for (const path of ["tmp/x", "/tmp/../etc", "/tmp//x", "/tmp/"]) {
      await expect(sidecar.call(methods.readFile, { vmId, path })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", errno: "EINVAL" });
      await expect(sidecar.call(methods.writeFile, { vmId, path, content: bytes("x") })).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
      });
    }
  });

  it("maps POSIX failures to typed errors", async () => {
    await expect(sidecar.call(methods.readFile, { vmId, path: "/nope" })).rejects.toMatchObject({
      code: "NOT_FOUND",
      errno: "ENOENT",
      message: "cannot read /nope: no such file or directory (ENOENT)",
    });
    await expect(sidecar.call(methods.readFile, { vmId, path: "/tmp" })).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
      errno: "EISDIR",
    });
    await expect(sidecar.call(methods.mkdir, { vmId, path: "/tmp" })).rejects.toMatchObject({ code: "ALREADY_EXISTS", errno: "EEXIST" });
    await expect(sidecar.call(methods.delete, { vmId, path: "/" })).rejects.toMatchObject({ code: "FAILED_PRECONDITION" });
  });

  it("enforces limits.maxFilesystemBytes for the API and for guest code", async () => {
    const quotaVm = await sidecar.createVm({ limits: { maxFilesystemBytes: 64 * 1024 } });
    await sidecar.call(methods.writeFile, { vmId: quotaVm, path: "/tmp/a", content: new Uint8Array(40 * 1024) });
    await expect(
      sidecar.call(methods.writeFile, { vmId: quotaVm, path: "/tmp/b", content: new Uint8Array(40 * 1024) }),
    ).rejects.toMatchObject({
      code: "RESOURCE_EXHAUSTED",
      errno: "ENOSPC",
      limit: "max_filesystem_bytes",
    });
    // The Node bridge of secure-exec 0.2.1 keeps the errno in the message only (see NOTES.md).
    const node = await sidecar.exec(
      quotaVm,
      `node -e 'try { require("fs").writeFileSync("/tmp/c", Buffer.alloc(40 * 1024)); console.log("wrote") } catch (e) { console.log(e.message) }'`,
    );
    expect(node.stdout).toMatch(/^ENOSPC: no space left on device/);
    // A WebAssembly command is cut off at the limit.
    await sidecar.exec(quotaVm, "head -c 100000 /dev/zero > /tmp/d");
    const size = (await sidecar.call(methods.stat, { vmId: quotaVm, path: "/tmp/d" })).stat?.size ?? 0;
    expect(size).toBeLessThanOrEqual(64 * 1024 - 40 * 1024);
    await sidecar.call(methods.delete, { vmId: quotaVm, path: "/tmp/a" });
    await sidecar.call(methods.writeFile, { vmId: quotaVm, path: "/tmp/b", content: new Uint8Array(40 * 1024) });
  });
});
