import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { NetworkRule_Effect } from "@agentos/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestSidecar } from "./harness.js";

let sidecar: TestSidecar;
let server: Server;
let port: number;
let other: Server;
let otherPort: number;

const listen = async (): Promise<[Server, number]> => {
  const s = createServer((_req, res) => res.end("hello from the host"));
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  return [s, (s.address() as AddressInfo).port];
};

beforeAll(async () => {
  sidecar = await TestSidecar.start();
  [server, port] = await listen();
  [other, otherPort] = await listen();
});
afterAll(async () => {
  await sidecar.stop();
  server.close();
  other.close();
});

/** What a guest fetch of http://host:port/ prints: the body, or the error. */
const guestFetch = (vmId: string, target: string) =>
  sidecar.exec(
    vmId,
    `node -e 'fetch("http://${target}/").then(r => r.text()).then(t => console.log("OK " + t), e => console.log("ERR " + (e.cause?.message ?? e.message)))'`,
  );

describe("network egress", () => {
  it("is denied by default, even to the host's loopback", async () => {
    const vmId = await sidecar.createVm();
    const result = await guestFetch(vmId, `127.0.0.1:${port}`);
    expect(result.stdout).toMatch(/^ERR .*EACCES.*egress is denied by default/);
  });

  it("allows exactly the host:port in network.allow", async () => {
    const vmId = await sidecar.createVm({ network: { allow: [`127.0.0.1:${port}`] } });
    expect((await guestFetch(vmId, `127.0.0.1:${port}`)).stdout).toBe("OK hello from the host\n");
    expect((await guestFetch(vmId, `127.0.0.1:${otherPort}`)).stdout).toMatch(/^ERR .*EACCES/);
  });

  it("honours loopbackExemptPorts", async () => {
    const vmId = await sidecar.createVm({ loopbackExemptPorts: [otherPort] });
    expect((await guestFetch(vmId, `127.0.0.1:${otherPort}`)).stdout).toBe("OK hello from the host\n");
    expect((await guestFetch(vmId, `127.0.0.1:${port}`)).stdout).toMatch(/^ERR /);
  });

  it("lets a deny rule override a later allow", async () => {
    const vmId = await sidecar.createVm({
      permissions: { network: [{ effect: NetworkRule_Effect.DENY, pattern: `127.0.0.1:${port}`, ops: [] }] },
      network: { allow: ["127.0.0.1:*"] },
    });
    expect((await guestFetch(vmId, `127.0.0.1:${port}`)).stdout).toMatch(/^ERR .*EACCES/);
    expect((await guestFetch(vmId, `127.0.0.1:${otherPort}`)).stdout).toBe("OK hello from the host\n");
  });

  it("denies raw TCP connections and DNS lookups as well", async () => {
    const vmId = await sidecar.createVm();
    const tcp = await sidecar.exec(
      vmId,
      `node -e 'const s = require("net").connect(${port}, "127.0.0.1", () => console.log("connected")); s.on("error", e => console.log("ERR " + e.message))'`,
    );
    expect(tcp.stdout).toMatch(/^ERR .*EACCES/);
    const dns = await sidecar.exec(
      vmId,
      `node -e 'require("dns").lookup("example.com", (e, a) => console.log(e ? "ERR " + e.message : "resolved " + a))'`,
    );
    expect(dns.stdout).toMatch(/^ERR .*EACCES/);
  });

  it("keeps guest-to-guest loopback inside the VM working", async () => {
    const vmId = await sidecar.createVm();
    const script = `const http = require("http"); const s = http.createServer((q, r) => r.end("inside")).listen(7000, () => fetch("http://127.0.0.1:7000/").then(r => r.text()).then(t => { console.log(t); s.close() }, e => { console.log("ERR " + e.message); s.close() }))`;
    expect((await sidecar.exec(vmId, `node -e '${script}'`)).stdout).toBe("inside\n");
  });
});
