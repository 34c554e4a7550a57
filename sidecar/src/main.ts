#!/usr/bin/env node
// agentos-sidecar: serves the agentOS wire protocol on stdin/stdout.
// Exits 0 when stdin ends or on SIGTERM/SIGINT (after disposing every VM),
// 1 when the client's hello was rejected, 2 on bad command-line arguments.
import { parseArgs } from "node:util";
import { serve } from "./server.js";

// stdout carries frames and nothing else. Anything a dependency prints goes
// to stderr instead of corrupting the wire.
const wire = process.stdout;
Object.defineProperty(process, "stdout", { configurable: true, enumerable: true, get: () => process.stderr });
for (const method of ["log", "info", "debug"] as const) console[method] = console.error;

const log = (message: string) => process.stderr.write(`agentos-sidecar: ${message}\n`);

let maxFrameBytes: number | undefined;
let maxVms: number | undefined;
try {
  const { values } = parseArgs({ options: { "max-frame-bytes": { type: "string" }, "max-vms": { type: "string" } } });
  const rawVms = values["max-vms"] ?? process.env.AGENTOS_MAX_VMS;
  if (rawVms !== undefined) {
    maxVms = Number(rawVms);
    if (!Number.isSafeInteger(maxVms) || maxVms < 1) throw new Error(`--max-vms must be a positive integer, got ${rawVms}`);
  }
  const raw = values["max-frame-bytes"] ?? process.env.AGENTOS_MAX_FRAME_BYTES;
  if (raw !== undefined) {
    maxFrameBytes = Number(raw);
    if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1024)
      throw new Error(`--max-frame-bytes must be an integer >= 1024, got ${raw}`);
  }
} catch (error) {
  log((error as Error).message);
  process.exit(2);
}

// A guest, a dependency or a bad frame must never take the sidecar down.
process.on("uncaughtException", (error) => log(`uncaught exception (the sidecar keeps running): ${error.stack ?? error}`));
process.on("unhandledRejection", (reason) => log(`unhandled rejection (the sidecar keeps running): ${(reason as Error)?.stack ?? reason}`));

const sidecar = serve({ input: process.stdin, output: wire, maxFrameBytes, maxVms, log });
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    void sidecar.shutdown();
  });
}
sidecar.done.then((reason) => {
  // Let the last frames (the hello rejection) leave before exiting.
  wire.end(() => process.exit(reason === "rejected" ? 1 : 0));
  setTimeout(() => process.exit(reason === "rejected" ? 1 : 0), 1000).unref();
});
