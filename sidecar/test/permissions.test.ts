import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { methods } from "@agentos/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestSidecar, text } from "./harness.js";

const ALLOW = 1;
const DENY = 2;
const bytes = (s: string) => new TextEncoder().encode(s);

let sidecar: TestSidecar;
beforeAll(async () => {
  sidecar = await TestSidecar.start();
});
afterAll(() => sidecar.stop());

describe("the permission policy, as the client sees it", () => {
  it("keeps /etc/agentos read-only: the client gets PERMISSION_DENIED/EACCES, the guest EACCES", async () => {
    const vmId = await sidecar.createVm({});
    const before = text((await sidecar.call(methods.readFile, { vmId, path: "/etc/agentos/instructions.md" })).content);
    expect(before).toContain("agentOS VM");
    await expect(
      sidecar.call(methods.writeFile, { vmId, path: "/etc/agentos/instructions.md", content: bytes("x") }),
    ).rejects.toMatchObject({
      code: "PERMISSION_DENIED",
      errno: "EACCES",
    });
    await expect(sidecar.call(methods.delete, { vmId, path: "/etc", recursive: true })).rejects.toMatchObject({
      code: "PERMISSION_DENIED",
    });
    await expect(sidecar.call(methods.move, { vmId, from: "/etc", to: "/old-etc" })).rejects.toMatchObject({ code: "PERMISSION_DENIED" });
    const guest = await sidecar.exec(vmId, "echo pwned > /etc/agentos/instructions.md; echo $?");
    expect(guest.stderr.toLowerCase()).toMatch(/permission denied|eacces/);
    // Nothing was half-applied: every file of /etc is still there, unchanged.
    expect(text((await sidecar.call(methods.readFile, { vmId, path: "/etc/agentos/instructions.md" })).content)).toBe(before);
    expect((await sidecar.exec(vmId, "ls /etc")).stdout).toContain("agentos");
  });

  it("applies fs rules to the API, the shell and Node alike, refusing a recursive delete before it starts", async () => {
    const vmId = await sidecar.createVm({
      permissions: { fs: [{ effect: DENY, pattern: "/data/locked/*", ops: ["write"] }] },
    });
    await sidecar.call(methods.mkdir, { vmId, path: "/data/locked", recursive: true });
    await sidecar.call(methods.writeFile, { vmId, path: "/data/open.txt", content: bytes("open") });
    await expect(sidecar.call(methods.writeFile, { vmId, path: "/data/locked/a", content: bytes("a") })).rejects.toMatchObject({
      code: "PERMISSION_DENIED",
      errno: "EACCES",
    });
    await expect(sidecar.call(methods.delete, { vmId, path: "/data", recursive: true })).rejects.toMatchObject({
      code: "PERMISSION_DENIED",
    });
    expect(await sidecar.call(methods.exists, { vmId, path: "/data/open.txt" })).toEqual({ exists: true });
    const shell = await sidecar.exec(vmId, "echo x > /data/locked/b");
    expect(shell.exitCode).not.toBe(0);
    const node = await sidecar.exec(
      vmId,
      `node -e 'try { require("fs").writeFileSync("/data/locked/c", "c") } catch (e) { console.log(e.message) }'`,
    );
    expect(node.stdout).toMatch(/EACCES/);
    expect((await sidecar.call(methods.readdir, { vmId, path: "/data/locked" })).names).toEqual([]);
  });

  it("refuses commands the childProcess scope denies, to the client and to the guest", async () => {
    const vmId = await sidecar.createVm({ permissions: { childProcess: [{ effect: DENY, pattern: "node" }] } });
    await expect(sidecar.call(methods.spawn, { vmId, command: "node", args: ["-e", "1"] })).rejects.toMatchObject({
      code: "PERMISSION_DENIED",
      errno: "EACCES",
    });
    const viaShell = await sidecar.exec(vmId, "node -e 'console.log(1)'");
    expect(viaShell.exitCode).not.toBe(0);
    expect(viaShell.stdout).toBe("");
    expect((await sidecar.exec(vmId, "echo still")).stdout).toBe("still\n");
  });

  it("shows the guest only the environment variables the env scope allows", async () => {
    const vmId = await sidecar.createVm({
      env: { PUBLIC_A: "a", SECRET_B: "b" },
      permissions: { env: [{ effect: ALLOW, pattern: "PUBLIC_*" }], defaults: { env: DENY } },
    });
    const shown = await sidecar.exec(vmId, "env; node -e 'console.log(Object.keys(process.env).join(\",\"))'", {
      env: { PUBLIC_C: "c", SECRET_D: "d" },
    });
    expect(shown.stdout).toContain("PUBLIC_A=a");
    expect(shown.stdout).toContain("PUBLIC_C=c");
    expect(shown.stdout).toContain("HOME=");
    expect(shown.stdout).not.toContain("SECRET");
  });

  it("points overridden names at their address for lookups, sockets and fetch, while the policy decides by name", async () => {
    const server = createServer((_request, response) => response.end("hello from api.test")).listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as AddressInfo).port;
    try {
      const vmId = await sidecar.createVm({
        network: { allow: [`api.test:${port}`], dnsOverrides: { "api.test": "127.0.0.1", "blocked.test": "127.0.0.1" } },
      });
      const node = (script: string) => sidecar.exec(vmId, `node -e '${script}'`);
      expect((await node(`require("dns").lookup("api.test", (e, a) => console.log(e ? e.code : a))`)).stdout).toBe("127.0.0.1\n");
      expect((await node(`require("dns").lookup("blocked.test", (e, a) => console.log(e ? e.message : a))`)).stdout).toMatch(/EACCES/);
      const fetched = await node(
        `fetch("http://api.test:${port}/").then(r => r.text()).then(t => console.log(t), e => console.log("ERR", e.message))`,
      );
      expect(fetched.stdout).toBe("hello from api.test\n");
      const socket = await node(
        `const s = require("net").connect(${port}, "api.test", () => { s.end("GET / HTTP/1.0\\r\\n\\r\\n") }); s.on("data", d => process.stdout.write(String(d).split("\\r\\n")[0] + "\\n"))`,
      );
      expect(socket.stdout).toBe("HTTP/1.1 200 OK\n");
      // The same address by another name is not allowed: the rule names api.test.
      expect(
        (await node(`fetch("http://blocked.test:${port}/").then(r => console.log(r.status), e => console.log("ERR", e.message))`)).stdout,
      ).toMatch(/^ERR/);
    } finally {
      server.close();
    }
  });
});
