// Benchmarks, not tests: the same work done by raw secure-exec in this process and through AgentOs + the
// sidecar, measured in one run. Prints a table and writes bench/results/latest.json (see ../README.md).
import { cpus } from "node:os";
import { AgentOs } from "@agentos/client";
import { paired, throughput, time } from "./measure.js";
import { createRawVm } from "./raw.js";
import { type Metric, printTable, type Target, writeJson } from "./report.js";
import { benchSessions } from "./sessions.js";
import { summarize } from "./stats.js";

const ONE_MIB = new Uint8Array(1024 * 1024).fill(0x61);
const REQUESTS = 20_000;
const IN_FLIGHT = 512;
const RATIO_TARGET: Target = { maxRatio: 1.2 };

const started = performance.now();
const metrics: Metric[] = [];
const iterations: Record<string, number> = {};
const warmups: Record<string, number> = {};

async function bench(
  name: string,
  count: number,
  warmup: number,
  raw: () => Promise<number>,
  client: () => Promise<number>,
  target?: Target,
): Promise<void> {
  progress(`${name}: ${warmup} warmup + ${count} samples per side`);
  const samples = await paired(count, warmup, raw, client);
  metrics.push({ name, raw: summarize(samples.raw), client: summarize(samples.client), target });
  iterations[name] = count;
  warmups[name] = warmup;
}

function progress(message: string): void {
  console.error(`[${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${message}`);
}

/** A timing of a failed command would be meaningless, so every sample checks its answer. */
function expectSuccess(command: string, result: { exitCode: number; stderr: string }): void {
  if (result.exitCode !== 0) throw new Error(`\`${command}\` exited with ${result.exitCode}: ${result.stderr}`);
}

// The first VM of the run also spawns the shared sidecar. It then stays up for the whole run: the
// shared sidecar exits with its last VM, and per-sample VMs must find it warm.
progress("sidecar_start_and_first_vm");
const firstStarted = performance.now();
const keeper = await AgentOs.create();
const firstVmMs = performance.now() - firstStarted;

let rate: { value: number; rawValue: number };
try {
  await bench(
    "vm_create",
    60,
    5,
    async () => {
      let kernel: Awaited<ReturnType<typeof createRawVm>> | undefined;
      const ms = await time(async () => {
        kernel = await createRawVm();
      });
      await kernel?.dispose();
      return ms;
    },
    async () => {
      let vm: AgentOs | undefined;
      const ms = await time(async () => {
        vm = await AgentOs.create();
      });
      await vm?.dispose();
      return ms;
    },
    RATIO_TARGET,
  );
  const vmCreate = metrics[0];
  metrics.push({ name: "sidecar_start_and_first_vm", client: summarize([firstVmMs]), raw: vmCreate.raw });
  iterations.sidecar_start_and_first_vm = 1;
  warmups.sidecar_start_and_first_vm = 0;

  // The first command of a fresh VM; the VM's creation is not timed. No Node process runs between
  // samples, so secure-exec has disposed its V8 runtime process and `node` starts it again (cold).
  for (const [name, command, count] of [
    ["exec_echo_first", "echo hi", 40],
    ["exec_node_cold", "node -e 1", 30],
  ] as const) {
    await bench(
      name,
      count,
      2,
      async () => {
        const kernel = await createRawVm();
        let result: Awaited<ReturnType<typeof kernel.exec>> | undefined;
        const ms = await time(async () => {
          result = await kernel.exec(command);
        });
        await kernel.dispose();
        if (result) expectSuccess(command, result);
        return ms;
      },
      async () => {
        const vm = await AgentOs.create();
        let result: Awaited<ReturnType<typeof vm.exec>> | undefined;
        const ms = await time(async () => {
          result = await vm.exec(command);
        });
        await vm.dispose();
        if (result) expectSuccess(command, result);
        return ms;
      },
      RATIO_TARGET,
    );
  }

  // Small and large requests against one long-lived VM per side.
  const kernel = await createRawVm();
  try {
    await bench(
      "request_roundtrip",
      5000,
      500,
      () => time(() => kernel.stat("/tmp")),
      () => time(() => keeper.stat("/tmp")),
      { maxP50Ms: 0.1 },
    );

    await kernel.writeFile("/tmp/one-mib", ONE_MIB);
    await keeper.writeFile("/tmp/one-mib", ONE_MIB);
    for (const content of [await kernel.readFile("/tmp/one-mib"), await keeper.readFile("/tmp/one-mib")]) {
      if (content.length !== ONE_MIB.length) throw new Error(`read ${content.length} bytes back instead of ${ONE_MIB.length}`);
    }
    await bench(
      "read_1mib",
      200,
      20,
      () => time(() => kernel.readFile("/tmp/one-mib")),
      () => time(() => keeper.readFile("/tmp/one-mib")),
    );
    await bench(
      "write_1mib",
      200,
      20,
      () => time(() => kernel.writeFile("/tmp/written", ONE_MIB)),
      () => time(() => keeper.writeFile("/tmp/written", ONE_MIB)),
    );

    progress(`requests_per_s: ${REQUESTS} exists() per side, up to ${IN_FLIGHT} in flight`);
    await throughput(2000, IN_FLIGHT, () => kernel.exists("/tmp"));
    await throughput(2000, IN_FLIGHT, () => keeper.exists("/tmp"));
    const rawValue = await throughput(REQUESTS, IN_FLIGHT, () => kernel.exists("/tmp"));
    const value = await throughput(REQUESTS, IN_FLIGHT, () => keeper.exists("/tmp"));
    rate = { value, rawValue };
    iterations.requests_per_s = REQUESTS;
    warmups.requests_per_s = 2000;
  } finally {
    await kernel.dispose();
  }
} finally {
  await keeper.dispose();
}

// Agent sessions (Pi) on a dedicated sidecar of their own, against the same adapter as a host child process.
const memory = await benchSessions({
  bench,
  single(name, rawMs, clientMs) {
    metrics.push({ name, raw: summarize([rawMs]), client: summarize([clientMs]) });
    iterations[name] = 1;
    warmups[name] = 0;
  },
  progress,
});

const durationS = Number(((performance.now() - started) / 1000).toFixed(1));
const cpu = cpus();
writeJson(new URL("../results/latest.json", import.meta.url), metrics, { ...rate, minValue: 20_000 }, memory, {
  node: process.version,
  cpu: cpu[0]?.model ?? "unknown",
  cores: cpu.length,
  date: new Date().toISOString(),
  iterations,
  warmup: warmups,
  duration_s: durationS,
});
console.log();
printTable(metrics, { ...rate, minValue: 20_000 }, memory);
console.log(`\n${process.version}, ${cpu.length} × ${cpu[0]?.model ?? "unknown"}, ${durationS} s; wrote bench/results/latest.json`);
