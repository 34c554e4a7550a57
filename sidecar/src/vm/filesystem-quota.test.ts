import { createInMemoryFileSystem, O_CREAT, O_TRUNC, O_WRONLY } from "@secure-exec/core";
import { describe, expect, it } from "vitest";
import { ENTRY_BYTES, withByteQuota } from "./filesystem-quota.js";

/** What an entry named `name` costs besides its contents. */
const entry = (name: string, target = "") => ENTRY_BYTES + name.length + target.length;

describe("withByteQuota", () => {
  it("counts writes, overwrites, truncation and removal, and each entry", async () => {
    const fs = withByteQuota(createInMemoryFileSystem(), 1000);
    await fs.writeFile("/a", new Uint8Array(60));
    expect(await fs.usedBytes()).toBe(60 + entry("a"));
    await fs.writeFile("/a", new Uint8Array(10));
    expect(await fs.usedBytes()).toBe(10 + entry("a"));
    await fs.pwrite("/a", 50, new Uint8Array(10));
    expect(await fs.usedBytes()).toBe(60 + entry("a"));
    await fs.truncate("/a", 20);
    expect(await fs.usedBytes()).toBe(20 + entry("a"));
    await fs.removeFile("/a");
    expect(await fs.usedBytes()).toBe(0);
  });

  it("refuses a write past the limit with ENOSPC and stores nothing of it", async () => {
    const fs = withByteQuota(createInMemoryFileSystem(), 1000);
    await fs.writeFile("/a", new Uint8Array(600));
    await expect(fs.writeFile("/b", new Uint8Array(300))).rejects.toMatchObject({ code: "ENOSPC" });
    expect(await fs.exists("/b")).toBe(false);
    expect(await fs.usedBytes()).toBe(600 + entry("a"));
    await expect(fs.pwrite("/a", 900, new Uint8Array(200))).rejects.toMatchObject({ code: "ENOSPC" });
  });

  it("truncates on a truncating open and credits the bytes (echo x > file)", async () => {
    const fs = withByteQuota(createInMemoryFileSystem(), 1000);
    await fs.writeFile("/f", "hello world\n");
    expect(fs.prepareOpenSync?.("/f", O_WRONLY | O_TRUNC)).toBe(false);
    await fs.pwrite("/f", 0, new TextEncoder().encode("x\n"));
    expect(new TextDecoder().decode(await fs.readFile("/f"))).toBe("x\n");
    expect(await fs.usedBytes()).toBe(2 + entry("f"));
    expect(fs.prepareOpenSync?.("/new", O_WRONLY | O_CREAT | O_TRUNC)).toBe(true);
    expect(await fs.usedBytes()).toBe(2 + entry("f") + entry("new"));
  });

  it("credits the file a rename replaces", async () => {
    const fs = withByteQuota(createInMemoryFileSystem(), 1000);
    await fs.writeFile("/a", new Uint8Array(30));
    await fs.writeFile("/b", new Uint8Array(40));
    await fs.rename("/a", "/b");
    expect(await fs.usedBytes()).toBe(30 + entry("b"));
  });

  it("charges folders, links and names, and refuses names and targets Linux would refuse", async () => {
    const fs = withByteQuota(createInMemoryFileSystem(), 2000);
    await fs.mkdir("/d/e", { recursive: true });
    expect(await fs.usedBytes()).toBe(entry("d") + entry("e"));
    await fs.symlink("/d/e", "/l");
    expect(await fs.usedBytes()).toBe(entry("d") + entry("e") + entry("l", "/d/e"));
    // A renamed link keeps its target's cost; only its name changes.
    await fs.rename("/l", "/ln");
    expect(await fs.usedBytes()).toBe(entry("d") + entry("e") + entry("ln", "/d/e"));
    await expect(fs.symlink(`/${"x".repeat(5000)}`, "/long")).rejects.toMatchObject({ code: "ENAMETOOLONG" });
    await expect(fs.writeFile(`/${"n".repeat(256)}`, "x")).rejects.toMatchObject({ code: "ENAMETOOLONG" });
    // Empty entries are not free: the quota ends an endless mkdir or touch.
    let made = 0;
    await expect(
      (async () => {
        for (;;) {
          await fs.writeFile(`/empty${made}`, "");
          made++;
        }
      })(),
    ).rejects.toMatchObject({ code: "ENOSPC" });
    expect(made).toBeLessThan(2000 / ENTRY_BYTES);
    await fs.removeFile("/ln");
    await fs.removeDir("/d/e");
    await fs.removeDir("/d");
    for (let i = 0; i < made; i++) await fs.removeFile(`/empty${i}`);
    expect(await fs.usedBytes()).toBe(0);
  });
});
