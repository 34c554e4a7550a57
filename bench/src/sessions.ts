// Agent sessions: the Pi agent in a VM through AgentOs + the sidecar, against the same adapter run as a plain
// host child process (./pi.ts), both talking to one scripted mock model on loopback. Also the memory one idle
// session costs the sidecar. See ../README.md for what each figure means.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pi from "@agentos/agent-pi";
import { AgentOs } from "@agentos/client";
import { startMockModel } from "@agentos/mock-model";
import { time } from "./measure.js";
import { type HostPiSession, startHostPi } from "./pi.js";
import type { MemoryReport, Target } from "./report.js";
import { rssMiB, sidecarChildren, treeRss } from "./rss.js";

export interface SessionBenchHooks {
  /** Times `raw` and `client` alternately, `warmup` rounds first, and records the metric. */
  bench(
    name: string,
    count: number,
    warmup: number,
    raw: () => Promise<number>,
    client: () => Promise<number>,
    target?: Target,
  ): Promise<void>;
  /** Records a metric measured once per side. */
  single(name: string, rawMs: number, clientMs: number): void;
  progress(message: string): void;
}

const SESSION_READY_SAMPLES = 10;
const PROMPT_SAMPLES = 20;
/** Time an idle session gets to settle before its memory is read. */
const SETTLE_MS = 1000;

const VM_NOTE = "/home/user/bench/note.txt";
const NOTE = "written by the Pi agent for the agentOS bench\n";
const VM_PROMPT = "bench-vm: write the note";
const HOST_PROMPT = "bench-host: write the note";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function benchSessions(hooks: SessionBenchHooks): Promise<MemoryReport> {
  // The raw side's session folder (cwd and HOME of the host adapter) and the file its write tool writes.
  const hostDir = mkdtempSync(join(tmpdir(), "agentos-bench-pi-"));
  const hostNote = join(hostDir, "bench", "note.txt");
  mkdirSync(join(hostDir, "bench"));
  // One scripted turn per side: a `write` tool call, then a text answer once the tool result is back.
  const model = await startMockModel([
    { prompt: VM_PROMPT, toolCall: { name: "write", input: { path: VM_NOTE, content: NOTE } }, text: "done" },
    { prompt: HOST_PROMPT, toolCall: { name: "write", input: { path: hostNote, content: NOTE } }, text: "done" },
  ]);
  const env = { ANTHROPIC_API_KEY: "mock-key", ANTHROPIC_BASE_URL: model.url, AGENTOS_PERMISSION_MODE: "bypassPermissions" };
  const startHost = () => startHostPi({ cwd: hostDir, home: hostDir, env });

  // A sidecar of its own, so its memory is this VM's alone (the shared one also runs the run's keeper VM).
  const known = new Set(sidecarChildren());
  const os = await AgentOs.create({
    software: [pi],
    permissions: { network: [{ effect: "allow", pattern: model.hostPort }] },
    sidecar: { dedicated: true },
  });
  const hostSessions = new Set<HostPiSession>();
  try {
    const started = sidecarChildren().filter((pid) => !known.has(pid));
    if (started.length !== 1) throw new Error(`expected one new sidecar process, found ${started.length}`);
    const sidecarPid = started[0];
    await os.mkdir("/home/user/bench", { recursive: true });

    // Memory, and the very first session of the VM (cold on both sides).
    hooks.progress(`rss_idle_session: sidecar pid ${sidecarPid}, before and after one idle Pi session`);
    await sleep(SETTLE_MS);
    const before = treeRss(sidecarPid);
    let host: HostPiSession | undefined;
    const rawFirst = await time(async () => {
      host = await startHost();
    });
    if (host) hostSessions.add(host);
    let sessionId = "";
    const clientFirst = await time(async () => {
      ({ sessionId } = await os.createSession("pi", { env }));
    });
    hooks.single("session_ready_first", rawFirst, clientFirst);
    await sleep(SETTLE_MS);
    const after = treeRss(sidecarPid);
    const adapters = (await os.allProcesses()).filter((p) => p.status === "running" && p.args[0] === pi.agent.entry);
    if (adapters.length !== 1) throw new Error(`expected one running Pi adapter in the VM, found ${adapters.length}`);
    const rawMiB = host ? rssMiB(host.pid) : 0;
    await os.closeSession(sessionId);
    await closeHost(host, hostSessions);

    // Sessions created and closed one after another in the same VM; each starts a fresh adapter process.
    await hooks.bench(
      "session_ready",
      SESSION_READY_SAMPLES,
      1,
      async () => {
        let session: HostPiSession | undefined;
        const ms = await time(async () => {
          session = await startHost();
        });
        if (session) hostSessions.add(session);
        await closeHost(session, hostSessions);
        return ms;
      },
      async () => {
        let id = "";
        const ms = await time(async () => {
          ({ sessionId: id } = await os.createSession("pi", { env }));
        });
        await os.closeSession(id);
        return ms;
      },
      { maxP50Ms: 1000 },
    );

    // One prompt = model asks for `write`, the agent writes the note, the model answers "done". Every sample
    // removes the note first (not timed) and checks it is back with the right content afterwards.
    const vmSession = (await os.createSession("pi", { env })).sessionId;
    const hostSession = await startHost();
    hostSessions.add(hostSession);
    await hooks.bench(
      "prompt_roundtrip",
      PROMPT_SAMPLES,
      2,
      async () => {
        rmSync(hostNote, { force: true });
        let stopReason = "";
        const ms = await time(async () => {
          stopReason = await hostSession.prompt(HOST_PROMPT);
        });
        const written = readFileSync(hostNote, "utf8");
        if (stopReason !== "end_turn" || written !== NOTE) throw new Error(`host prompt: ${stopReason}, note ${JSON.stringify(written)}`);
        return ms;
      },
      async () => {
        if (await os.exists(VM_NOTE)) await os.delete(VM_NOTE);
        let result: Awaited<ReturnType<typeof os.prompt>> | undefined;
        const ms = await time(async () => {
          result = await os.prompt(vmSession, VM_PROMPT);
        });
        const written = new TextDecoder().decode(await os.readFile(VM_NOTE));
        const stopReason = (result?.response.result as { stopReason?: string } | undefined)?.stopReason;
        if (stopReason !== "end_turn" || result?.text !== "done" || written !== NOTE) {
          throw new Error(`VM prompt: ${JSON.stringify(result)}, note ${JSON.stringify(written)}`);
        }
        return ms;
      },
      { maxRatio: 1.5 },
    );
    await os.closeSession(vmSession);

    const children: Record<string, number> = {};
    for (const d of after.descendants) {
      const name = d.command.split(" ")[0].split("/").pop() ?? "?";
      children[name] = (children[name] ?? 0) + d.mib;
    }
    return {
      before: { sidecarMiB: before.rootMiB, childrenMiB: before.descendantsMiB, totalMiB: before.totalMiB },
      after: { sidecarMiB: after.rootMiB, childrenMiB: after.descendantsMiB, totalMiB: after.totalMiB, children },
      rawMiB,
    };
  } finally {
    for (const session of hostSessions) await session.close();
    await os.dispose();
    await model.stop();
    rmSync(hostDir, { recursive: true, force: true });
  }
}

async function closeHost(session: HostPiSession | undefined, open: Set<HostPiSession>): Promise<void> {
  if (!session) return;
  await session.close();
  open.delete(session);
}
