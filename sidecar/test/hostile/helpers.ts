import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { methods } from "@agentos/proto";
import { expect } from "vitest";
import { type TestSidecar, text } from "../harness.js";

/**
 * Shared pieces of the hostile-guest suite. Every case runs real guest code
 * and then calls `expectStillServing`: the sidecar answers and a VM created
 * before the attack (the bystander) still runs commands and Node.
 */

/** What the bystander runs after every attack. */
export const HEALTH_COMMAND = "echo ok && node -e 'console.log(1+1)'";

/** The sidecar still answers (both directions) and the bystander VM still works. */
export async function expectStillServing(sidecar: TestSidecar, bystander: string): Promise<void> {
  const { nonce } = await sidecar.call(methods.pingClient, { nonce: "still-serving" });
  expect(nonce).toBe("pong:still-serving");
  const result = await sidecar.exec(bystander, HEALTH_COMMAND);
  expect(result).toMatchObject({ exitCode: 0, stdout: "ok\n2\n" });
}

/** `node -e '<code>'` for the guest shell; the code must not contain single quotes. */
export function nodeEval(code: string): string {
  if (code.includes("'")) throw new Error(`guest code must not contain single quotes: ${code}`);
  return `node -e '${code}'`;
}

/**
 * Guest Node code that runs `body` and prints `OK <value of result>` or
 * `ERR <code> <message>`. `body` may assign `result`.
 */
export function nodeTry(body: string): string {
  return nodeEval(
    `const fs = require("fs"); let result = ""; try { ${body}; console.log("OK " + result) } catch (e) { console.log("ERR " + e.code + " " + e.message) }`,
  );
}

/** Reads a VM file through the API. */
export async function readVmFile(sidecar: TestSidecar, vmId: string, path: string): Promise<string> {
  return text((await sidecar.call(methods.readFile, { vmId, path })).content);
}

/** The test process's resident set (the sidecar runs in it), in MiB. */
export function hostRssMib(): number {
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

let gc: (() => void) | undefined;
/** Bytes the test process still holds after a full GC (heap + array buffers), in MiB. */
export function retainedMib(): number {
  if (!gc) {
    setFlagsFromString("--expose-gc");
    gc = runInNewContext("gc") as () => void;
  }
  gc();
  gc();
  const usage = process.memoryUsage();
  return (usage.heapUsed + usage.arrayBuffers) / (1024 * 1024);
}

/** A real HTTP server on the host's loopback that counts the TCP connections it accepts. */
export interface HostServer {
  port: number;
  /** TCP connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

export async function startHostServer(body = "hello from the host"): Promise<HostServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((_req, res) => res.end(body));
  const state: HostServer = {
    port: 0,
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  server.on("connection", (socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.port = (server.address() as AddressInfo).port;
  return state;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every `everyMs` until `stop()` resolves; returns the largest value seen. */
export function trackMax(probe: () => Promise<number> | number, everyMs = 50): { stop(): Promise<number> } {
  let max = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      max = Math.max(max, await probe());
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return max;
    },
  };
}
