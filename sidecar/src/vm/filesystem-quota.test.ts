import { createInMemoryFileSystem, O_CREAT, O_TRUNC, O_WRONLY } from "@secure-exec/core";
import { describe, expect, it } from "vitest";
import { withByteQuota } from "./filesystem-quota.js";

describe("withByteQuota", () => {
  it("counts writes, overwrites, truncation and removal", async () => {
    const fs = withByteQuota(createInMemoryFileSystem(), 100);
    await fs.writeFile("/a", new Uint8Array(60));
    expect(await fs.usedBytes()).toBe(60);
    await fs.writeFile("/a", new Uint8Array(10));
    expect(await fs.usedBytes()).toBe(10);
    await fs.pwrite("/a", 50, new Uint8Array(10));
    expect(await fs.usedBytes()).toBe(60);
    await fs.truncate("/a", 20);
    expect(await fs.usedBytes()).toBe(20);
    await fs.removeFile("/a");
    expect(await fs.usedBytes()).toBe(0);
  });

  it("refuses a write past the limit with ENOSPC and stores nothing of it", async () => {
    const fs = withByteQuota(createInMemoryFileSystem(), 100);
    await fs.writeFile("/a", new Uint8Array(80));
    await expect(fs.writeFile("/b", new Uint8Array(30))).rejects.toMatchObject({ code: "ENOSPC" });
    expect(await fs.exists("/b")).toBe(false);
    expect(await fs.usedBytes()).toBe(80);
    await expect(fs.pwrite("/a", 90, new Uint8Array(20))).rejects.toMatchObject({ code: "ENOSPC" });
  });

  it("truncates on a truncating open and credits the bytes (echo x > file)", async () => {
    const fs = withByteQuota(createInMemoryFileSystem(), 100);
    await fs.writeFile("/f", "hello world\n");
    expect(fs.prepareOpenSync?.("/f", O_WRONLY | O_TRUNC)).toBe(false);
    await fs.pwrite("/f", 0, new TextEncoder().encode("x\n"));
    expect(new TextDecoder().decode(await fs.readFile("/f"))).toBe("x\n");
    expect(await fs.usedBytes()).toBe(2);
    expect(fs.prepareOpenSync?.("/new", O_WRONLY | O_CREAT | O_TRUNC)).toBe(true);
    expect(await fs.usedBytes()).toBe(2);
  });

  it("credits the file a rename replaces", async () => {
    const fs = withByteQuota(createInMemoryFileSystem(), 100);
    await fs.writeFile("/a", new Uint8Array(30));
    await fs.writeFile("/b", new Uint8Array(40));
    await fs.rename("/a", "/b");
    expect(await fs.usedBytes()).toBe(30);
  });
});
