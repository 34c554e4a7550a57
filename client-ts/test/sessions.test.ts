/**
 * Agent sessions end to end: the real Pi SDK runs inside the VM and talks to
 * a mock model server (the real Anthropic Messages API) on loopback.
 */
import pi from "@agentos/agent-pi";
import { type MockModel, piEnv, startMockModel } from "@agentos/mock-model";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentOs, AgentOsError, type JsonRpcNotification, type PermissionRequest } from "../src/index.js";

let model: MockModel;
let vm: AgentOs;

const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/** Pi in this VM, talking to the mock model; `mode` is the agent's permission mode. */
function piSession(os: AgentOs, mode = "bypassPermissions", options: Parameters<AgentOs["createSession"]>[1] = {}) {
  return os.createSession("pi", { ...options, env: { ...piEnv(model), AGENTOS_PERMISSION_MODE: mode, ...options.env } });
}

function vmWithPi(): Promise<AgentOs> {
  return AgentOs.create({ software: [pi], permissions: { network: [{ effect: "allow", pattern: model.hostPort }] } });
}

function updates(events: JsonRpcNotification[], kind: string) {
  return events.filter((e) => (e.params as { update: { sessionUpdate: string } }).update.sessionUpdate === kind);
}

beforeAll(async () => {
  model = await startMockModel([
    {
      prompt: "write the greeting",
      toolCall: { name: "write", input: { path: "/home/user/greeting.txt", content: "hello from pi" } },
      text: "I wrote the greeting.",
    },
    {
      prompt: "write the secret",
      toolCall: { name: "write", input: { path: "/home/user/secret.txt", content: "top secret" } },
      text: "Done with the secret.",
    },
    { prompt: "remember the word", text: "OK, I will remember it." },
    { prompt: "what was the word", whenHistoryContains: "remember the word banana", text: "The word was banana." },
    { prompt: "what was the word", text: "I do not know any word." },
    { prompt: "think for a long time", text: "finally done", latencyMs: 20_000 },
    { prompt: "say alpha", text: "alpha" },
    { prompt: "say beta", text: "beta" },
  ]);
  vm = await vmWithPi();
});

afterAll(async () => {
  await vm?.dispose();
  await model?.stop();
});

describe("agent sessions with Pi in the VM", () => {
  it("lists Pi as an installed agent and reports what it offers", async () => {
    expect(await vm.listAgents()).toEqual([
      { id: "pi", acpAdapter: "@agentos/agent-pi", agentPackage: "@mariozechner/pi-coding-agent", installed: true },
    ]);
    const { sessionId } = await piSession(vm, "default");
    try {
      expect(await vm.listSessions()).toContainEqual({ sessionId, agentType: "pi" });
      expect(await vm.resumeSession(sessionId)).toEqual({ sessionId });
      expect(await vm.getSessionAgentInfo(sessionId)).toMatchObject({ name: "pi" });
      expect(await vm.getSessionCapabilities(sessionId)).toMatchObject({ loadSession: false });
      expect((await vm.getSessionModes(sessionId))?.currentModeId).toBe("default");
      const options = await vm.getSessionConfigOptions(sessionId);
      expect(options.map((o) => o.category)).toEqual(["mode", "model", "thought_level"]);

      await vm.setSessionMode(sessionId, "plan");
      expect((await vm.getSessionModes(sessionId))?.currentModeId).toBe("plan");
      await vm.setSessionThoughtLevel(sessionId, "low");
      expect((await vm.getSessionConfigOptions(sessionId)).find((o) => o.id === "thought_level")?.currentValue).toBe("low");
      await vm.setSessionModel(sessionId, "claude-haiku-4-5");
      expect((await vm.getSessionConfigOptions(sessionId)).find((o) => o.id === "model")?.currentValue).toBe("claude-haiku-4-5");
      const bad = await vm.rawSessionSend(sessionId, "session/set_mode", { sessionId, modeId: "no-such-mode" });
      expect(bad.error?.code).toBe(-32602);
      await expect(vm.setSessionMode(sessionId, "no-such-mode")).rejects.toMatchObject({ code: "AGENT_ERROR" });
    } finally {
      await vm.closeSession(sessionId);
    }
  });

  it("writes a file with a tool call, streams the updates and numbers every event", async () => {
    const { sessionId } = await piSession(vm);
    const live: JsonRpcNotification[] = [];
    const unsubscribe = vm.onSessionEvent(sessionId, (event) => live.push(event));
    const result = await vm.prompt(sessionId, "write the greeting");
    expect(result.response).toMatchObject({ jsonrpc: "2.0", result: { stopReason: "end_turn" } });
    expect(result.text).toBe("I wrote the greeting.");
    expect(decode(await vm.readFile("/home/user/greeting.txt"))).toBe("hello from pi");

    const events = await vm.getSessionEvents(sessionId);
    expect(events.map((e) => e.sequenceNumber)).toEqual(events.map((_, i) => i + 1));
    const notifications = events.map((e) => e.notification);
    expect(notifications.every((n) => n.method === "session/update")).toBe(true);
    const calls = updates(notifications, "tool_call");
    expect(calls).toHaveLength(1);
    expect(calls[0].params).toMatchObject({ sessionId, update: { kind: "edit", rawInput: { path: "/home/user/greeting.txt" } } });
    expect(updates(notifications, "tool_call_update").at(-1)?.params).toMatchObject({ update: { status: "completed" } });
    expect(updates(notifications, "agent_message_chunk").length).toBeGreaterThan(0);

    // The live stream saw the same notifications, in the same order.
    await vi_waitFor(() => live.length === notifications.length);
    expect(live).toEqual(notifications);
    unsubscribe();

    const since = events[1].sequenceNumber;
    expect((await vm.getSessionEvents(sessionId, { since })).map((e) => e.sequenceNumber)[0]).toBe(since + 1);
    expect(await vm.getSessionEvents(sessionId, { method: "session/cancel" })).toEqual([]);
    await vm.closeSession(sessionId);
  });

  it("keeps the conversation's context across turns", async () => {
    const { sessionId } = await piSession(vm);
    expect((await vm.prompt(sessionId, "remember the word banana")).text).toBe("OK, I will remember it.");
    expect((await vm.prompt(sessionId, "what was the word?")).text).toBe("The word was banana.");
    // A fresh session has no such history.
    const other = await piSession(vm);
    expect((await vm.prompt(other.sessionId, "what was the word?")).text).toBe("I do not know any word.");
    await vm.closeSession(sessionId);
    await vm.closeSession(other.sessionId);
  });

  it("asks before writing: rejected → no write; once → written", async () => {
    const { sessionId } = await piSession(vm, "default");
    const asked: PermissionRequest[] = [];
    let reply: "reject" | "once" = "reject";
    const off = vm.onPermissionRequest(sessionId, (request) => {
      asked.push(request);
      void vm.respondPermission(sessionId, request.permissionId, reply);
    });

    const rejected = await vm.prompt(sessionId, "write the secret");
    expect(rejected.response).toMatchObject({ result: { stopReason: "end_turn" } });
    expect(asked).toHaveLength(1);
    expect(asked[0].params).toMatchObject({ sessionId, toolCall: { kind: "edit" } });
    expect(asked[0].description).toContain("/home/user/secret.txt");
    expect(await vm.exists("/home/user/secret.txt")).toBe(false);

    reply = "once";
    await vm.prompt(sessionId, "write the secret");
    expect(asked).toHaveLength(2);
    expect(decode(await vm.readFile("/home/user/secret.txt"))).toBe("top secret");
    off();
    await vm.delete("/home/user/secret.txt");

    // With no handler the default reply (reject) is given at once: no hang, no write.
    const started = Date.now();
    await vm.prompt(sessionId, "write the secret");
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await vm.exists("/home/user/secret.txt")).toBe(false);
    await expect(vm.respondPermission(sessionId, "permission-999", "once")).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(vm.respondPermission(sessionId, "permission-1", "maybe" as "once")).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await vm.closeSession(sessionId);
  });

  it("cancels a long turn promptly with stopReason cancelled", async () => {
    const { sessionId } = await piSession(vm);
    const requests = model.requests();
    const running = vm.prompt(sessionId, "think for a long time");
    await vi_waitFor(() => model.requests() > requests);
    const started = Date.now();
    await vm.cancelSession(sessionId);
    const result = await running;
    expect(result.response).toMatchObject({ result: { stopReason: "cancelled" } });
    expect(Date.now() - started).toBeLessThan(2_000);
    // Cancelling with no prompt running is harmless; other sessions go on.
    await vm.cancelSession(sessionId);
    const next = await piSession(vm);
    expect((await vm.prompt(next.sessionId, "say alpha")).text).toBe("alpha");
    await vm.closeSession(sessionId);
    await vm.closeSession(next.sessionId);
  });

  it("closing a session ends its adapter process; closing mid-prompt fails the prompt with CANCELLED", async () => {
    const adapters = async () =>
      (await vm.allProcesses()).filter((p) => p.status === "running" && p.args.some((a) => a.endsWith("adapter.mjs")));
    await vi_waitFor(async () => (await adapters()).length === 0);
    const before = 0;
    const { sessionId } = await piSession(vm);
    expect((await adapters()).length).toBe(before + 1);
    const running = vm.prompt(sessionId, "think for a long time");
    await new Promise((resolve) => setTimeout(resolve, 300));
    await vm.closeSession(sessionId);
    await expect(running).rejects.toMatchObject({ code: "CANCELLED" });
    await vi_waitFor(async () => (await adapters()).length === before);
    expect((await vm.listSessions()).map((s) => s.sessionId)).not.toContain(sessionId);
    await expect(vm.prompt(sessionId, "say alpha")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("keeps two sessions of one VM, and sessions of two VMs, apart", async () => {
    const other = await vmWithPi();
    try {
      const a = await piSession(vm);
      const b = await piSession(vm);
      const c = await piSession(other);
      const [ra, rb, rc] = await Promise.all([
        vm.prompt(a.sessionId, "say alpha"),
        vm.prompt(b.sessionId, "say beta"),
        other.prompt(c.sessionId, "write the greeting"),
      ]);
      expect([ra.text, rb.text, rc.text]).toEqual(["alpha", "beta", "I wrote the greeting."]);
      const text = async (os: AgentOs, id: string) => JSON.stringify(await os.getSessionEvents(id));
      expect(await text(vm, a.sessionId)).not.toContain("beta");
      expect(await text(vm, b.sessionId)).not.toContain("alpha");
      expect((await other.listSessions()).map((s) => s.sessionId)).toEqual([c.sessionId]);
      expect(decode(await other.readFile("/home/user/greeting.txt"))).toBe("hello from pi");
      await expect(other.prompt(a.sessionId, "say alpha")).rejects.toMatchObject({ code: "NOT_FOUND" });
      await vm.closeSession(a.sessionId);
      await vm.closeSession(b.sessionId);
    } finally {
      await other.dispose();
    }
  });

  it("an agent crash mid-prompt is a typed error; the VM and new sessions keep working", async () => {
    const { sessionId } = await piSession(vm);
    const running = vm.prompt(sessionId, "think for a long time");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const adapter = (await vm.allProcesses()).find((p) => p.status === "running" && p.args.some((a) => a.endsWith("adapter.mjs")));
    expect(adapter).toBeDefined();
    await vm.killProcess(adapter?.pid as number);
    const error = await running.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AgentOsError);
    expect(error).toMatchObject({ code: "AGENT_ERROR" });
    expect((error as Error).message).toMatch(/pi agent exited/);
    expect((await vm.exec("echo still here")).stdout).toBe("still here\n");
    const next = await piSession(vm);
    expect((await vm.prompt(next.sessionId, "say beta")).text).toBe("beta");
    await vm.closeSession(next.sessionId);
  });

  it("gives the agent the OS instructions unless skipped", async () => {
    const base = decode(await vm.readFile("/etc/agentos/instructions.md"));
    expect(base).toContain("agentOS VM");
    const { sessionId } = await piSession(vm, "bypassPermissions", { additionalInstructions: "Always answer in French." });
    await vm.prompt(sessionId, "say alpha");
    await vm.closeSession(sessionId);
    const skipped = await piSession(vm, "bypassPermissions", { skipOsInstructions: true });
    await vm.prompt(skipped.sessionId, "say beta");
    await vm.closeSession(skipped.sessionId);
    const systems = model.systemPrompts();
    expect(systems.some((s) => s.includes("agentOS VM") && s.includes("Always answer in French."))).toBe(true);
    expect(systems.at(-1)).not.toContain("agentOS VM");
  });

  it("refuses unknown agents and bad options with typed errors", async () => {
    await expect(vm.createSession("claude")).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(vm.createSession("pi", { permissionDefault: "maybe" as "once" })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    const plain = await AgentOs.create();
    try {
      expect(await plain.listAgents()).toEqual([]);
      await expect(plain.createSession("pi")).rejects.toMatchObject({ code: "NOT_FOUND" });
    } finally {
      await plain.dispose();
    }
  });
});

async function vi_waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
