import {
  type CreateSessionRequest,
  type MethodDescriptor,
  methods,
  type RequestPermissionRequest,
  type SessionEvent,
} from "@agentos/proto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SCRIPTED_AGENT_ID, SCRIPTED_AGENT_VM_DIR, scriptedAgentSoftware, scriptedAgentVmConfig } from "../src/scripted-agent.js";
import { clientCoverage, RpcFailure, SidecarUnderTest, uncovered } from "../src/sidecar-under-test.js";

/**
 * SessionService in raw frames, against the scripted ACP agent
 * (agents/scripted-agent): every rpc through its happy path and its main
 * error path, the permission round trip through ClientService.RequestPermission
 * (this file plays the client), event streaming and recording, cancellation,
 * and an agent that crashes. The last test checks that no rpc was left out.
 *
 * Every session is a guest `node` process, and a secure-exec sidecar runs only
 * as many of those at once as its host has CPUs: no test keeps more than two
 * sessions alive.
 */
let sidecar: SidecarUnderTest;
let vmId: string;
const VM_NOTE = "conformance VM note";
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  sidecar = await SidecarUnderTest.open();
  const config = scriptedAgentVmConfig({
    software: [scriptedAgentSoftware({ instructionsFlag: "--instructions" })],
    additionalInstructions: VM_NOTE,
  });
  vmId = (await sidecar.call(methods.create, { config: config as never })).vmId;
});
afterAll(() => sidecar.end());
afterEach(() => sidecar.serveClient(methods.requestPermission, undefined));

const open = async (options: Partial<CreateSessionRequest> = {}) =>
  (await sidecar.call(methods.createSession, { vmId, agentType: SCRIPTED_AGENT_ID, ...options })).sessionId;
const prompt = (sessionId: string, line: string) => sidecar.call(methods.prompt, { vmId, sessionId, text: line });
const close = (sessionId: string) => sidecar.call(methods.closeSession, { vmId, sessionId });

/** The result of a JSON-RPC response ({jsonrpc: "2.0", id, result}), checking its shape. */
function resultOf(json: string): unknown {
  const response = JSON.parse(json);
  expect(response).toEqual({ jsonrpc: "2.0", id: expect.any(Number), result: expect.anything() });
  return response.result;
}

/** The stopReason of a PromptResponse. */
const stopReason = (response: { responseJson: string }) => (resultOf(response.responseJson) as { stopReason: string }).stopReason;

/** The notification of an event, checking its shape. */
function notification(event: SessionEvent) {
  const parsed = JSON.parse(event.notificationJson);
  expect(parsed).toMatchObject({ jsonrpc: "2.0", method: "session/update", params: { sessionId: expect.any(String) } });
  return parsed as { method: string; params: { sessionId: string; update: { sessionUpdate: string; content?: { text: string } } } };
}

/** The agent_message_chunk texts among events. */
const chunks = (events: SessionEvent[]) =>
  events.map((e) => notification(e).params.update).flatMap((u) => (u.sessionUpdate === "agent_message_chunk" ? [u.content?.text] : []));

async function until<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr: ${sidecar.stderr.slice(-500)}`);
    await sleep(20);
  }
}

/** Waits until the agent has said `line` in the session (e.g. "waiting"). */
const said = (sessionId: string, line: string) =>
  until(
    async () => chunks((await sidecar.call(methods.getSessionEvents, { vmId, sessionId })).events).includes(line),
    `the agent to say "${line}"`,
  );

/** Serves RequestPermission with `handled`, keeping every request. */
function permissionHandler(answer: () => { handled: boolean }) {
  const requests: RequestPermissionRequest[] = [];
  sidecar.serveClient(methods.requestPermission, (request) => {
    requests.push(request);
    return answer();
  });
  return { requests, next: () => until(() => requests.shift(), "a RequestPermission call from the sidecar") };
}

describe("agents and session lifecycle", () => {
  it("listAgents reports the VM's agents and whether their adapter is present", async () => {
    expect((await sidecar.call(methods.listAgents, { vmId })).agents).toEqual([
      {
        id: SCRIPTED_AGENT_ID,
        acpAdapter: "@agentos-conformance/scripted-agent",
        agentPackage: "@agentos-conformance/scripted-agent",
        installed: true,
      },
    ]);
    const plain = (await sidecar.call(methods.create, { config: {} as never })).vmId;
    expect((await sidecar.call(methods.listAgents, { vmId: plain })).agents).toEqual([]);
    await expect(sidecar.call(methods.createSession, { vmId: plain, agentType: SCRIPTED_AGENT_ID })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    const missing = (
      await sidecar.call(methods.create, {
        config: { software: [scriptedAgentSoftware({ entry: `${SCRIPTED_AGENT_VM_DIR}/missing.mjs` })] } as never,
      })
    ).vmId;
    expect((await sidecar.call(methods.listAgents, { vmId: missing })).agents[0].installed).toBe(false);
    await expect(sidecar.call(methods.createSession, { vmId: missing, agentType: SCRIPTED_AGENT_ID })).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
    });
    for (const id of [plain, missing]) await sidecar.call(methods.dispose, { vmId: id });
    await expect(sidecar.call(methods.listAgents, { vmId: "vm-unknown" })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("createSession / resumeSession / listSessions / closeSession", async () => {
    const sessionId = await open({ cwd: "/tmp", env: { SCRIPTED_PROBE: "from-session" }, mcpServersJson: "[]" });
    expect(sessionId).toMatch(/^scripted-\d+$/);
    const info = JSON.parse((await prompt(sessionId, "info SCRIPTED_PROBE")).text);
    expect(info).toMatchObject({ cwd: "/tmp", processCwd: "/tmp", mcpServers: [], env: "from-session" });
    expect(await sidecar.call(methods.resumeSession, { vmId, sessionId })).toEqual({ sessionId });
    expect((await sidecar.call(methods.listSessions, { vmId })).sessions).toContainEqual({ sessionId, agentType: SCRIPTED_AGENT_ID });
    await close(sessionId);
    expect((await sidecar.call(methods.listSessions, { vmId })).sessions.map((s) => s.sessionId)).not.toContain(sessionId);
    await expect(sidecar.call(methods.resumeSession, { vmId, sessionId })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(close(sessionId)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(prompt(sessionId, "echo late")).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(sidecar.call(methods.listSessions, { vmId: "vm-unknown" })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("createSession refuses what can never start: unknown VM or agent, bad options, a reused session id", async () => {
    const refused = async (options: Partial<CreateSessionRequest>, code: string) => expect(open(options)).rejects.toMatchObject({ code });
    await refused({ vmId: "vm-unknown" }, "NOT_FOUND");
    await refused({ agentType: "no-such-agent" }, "NOT_FOUND");
    await refused({ permissionDefault: "sometimes" }, "INVALID_ARGUMENT");
    await refused({ mcpServersJson: "[not json" }, "INVALID_ARGUMENT");
    await refused({ mcpServersJson: "{}" }, "INVALID_ARGUMENT");
    // In a VM of their own, disposed after: a sidecar may start the adapter
    // before it refuses these, and a guest node process left behind holds one
    // of the sidecar's few V8 sessions until its VM is disposed.
    const scratch = (await sidecar.call(methods.create, { config: scriptedAgentVmConfig() as never })).vmId;
    await refused({ vmId: scratch, permissionTimeoutMs: 0 }, "INVALID_ARGUMENT");
    await refused({ vmId: scratch, promptTimeoutMs: 0 }, "INVALID_ARGUMENT");
    await sidecar.call(methods.dispose, { vmId: scratch });
    // Two live sessions of one VM may not share an id.
    const first = await open({ env: { SCRIPTED_SESSION_ID: "scripted-fixed" } });
    expect(first).toBe("scripted-fixed");
    await refused({ env: { SCRIPTED_SESSION_ID: "scripted-fixed" } }, "AGENT_ERROR");
    expect((await prompt(first, "echo still here")).text).toBe("still here");
    await close(first);
    // Refused sessions leave no adapter behind.
    expect((await sidecar.call(methods.listSessions, { vmId })).sessions).toEqual([]);
  });

  it("gives the agent the OS instructions through its instructions flag, unless skipped", async () => {
    const args = async (options: Partial<CreateSessionRequest>) => {
      const sessionId = await open(options);
      try {
        return JSON.parse((await prompt(sessionId, "info")).text).args as string[];
      } finally {
        await close(sessionId);
      }
    };
    const full = await args({ additionalInstructions: "session note" });
    expect(full).toHaveLength(2);
    expect(full[0]).toBe("--instructions");
    expect(full[1]).toContain("agentOS VM");
    expect(full[1]).toContain(VM_NOTE);
    expect(full[1].trimEnd().endsWith("session note")).toBe(true);
    expect(await args({ skipOsInstructions: true, additionalInstructions: "only this" })).toEqual(["--instructions", "only this"]);
    expect(await args({ skipOsInstructions: true })).toEqual([]);
  });

  it("destroySession cancels the running prompt and closes the session with the agent (session/close)", async () => {
    const sessionId = await open({ env: { SCRIPTED_CLOSE_FILE: "/tmp/closed.txt" } });
    const running = prompt(sessionId, "wait");
    await said(sessionId, "waiting");
    await sidecar.call(methods.destroySession, { vmId, sessionId });
    expect(stopReason(await running)).toBe("cancelled");
    expect(text((await sidecar.call(methods.readFile, { vmId, path: "/tmp/closed.txt" })).content)).toBe(`closed ${sessionId}`);
    await expect(sidecar.call(methods.resumeSession, { vmId, sessionId })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(sidecar.call(methods.destroySession, { vmId, sessionId })).rejects.toMatchObject({ code: "NOT_FOUND" });
    // Without session/close support the adapter is simply ended.
    const plain = await open();
    await sidecar.call(methods.destroySession, { vmId, sessionId: plain });
    expect((await sidecar.call(methods.listSessions, { vmId })).sessions).toEqual([]);
  });
});

describe("agent state: info, capabilities, modes, config options", () => {
  let sessionId: string;
  beforeAll(async () => {
    sessionId = await open();
  });
  afterAll(() => close(sessionId));

  it("getSessionAgentInfo / getSessionCapabilities", async () => {
    const info = await sidecar.call(methods.getSessionAgentInfo, { vmId, sessionId });
    expect(JSON.parse(info.json)).toEqual({ name: "scripted", version: "1.0.0" });
    const capabilities = await sidecar.call(methods.getSessionCapabilities, { vmId, sessionId });
    expect(JSON.parse(capabilities.json)).toMatchObject({ loadSession: false });
    await expect(sidecar.call(methods.getSessionAgentInfo, { vmId, sessionId: "no-such" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(sidecar.call(methods.getSessionCapabilities, { vmId: "vm-unknown", sessionId })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });

  it("getSessionModes / setSessionMode", async () => {
    expect(JSON.parse((await sidecar.call(methods.getSessionModes, { vmId, sessionId })).json)).toEqual({
      currentModeId: "default",
      availableModes: [
        { id: "default", name: "Default" },
        { id: "plan", name: "Plan" },
      ],
    });
    const set = await sidecar.call(methods.setSessionMode, { vmId, sessionId, modeId: "plan" });
    expect(resultOf(set.responseJson)).toEqual({});
    expect(JSON.parse((await sidecar.call(methods.getSessionModes, { vmId, sessionId })).json).currentModeId).toBe("plan");
    expect(JSON.parse((await prompt(sessionId, "info")).text).modeId).toBe("plan");
    // The agent refuses a mode it does not have: its JSON-RPC error becomes AGENT_ERROR.
    await expect(sidecar.call(methods.setSessionMode, { vmId, sessionId, modeId: "yolo" })).rejects.toMatchObject({
      code: "AGENT_ERROR",
    });
    expect(JSON.parse((await sidecar.call(methods.getSessionModes, { vmId, sessionId })).json).currentModeId).toBe("plan");
    await expect(sidecar.call(methods.getSessionModes, { vmId, sessionId: "no-such" })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("getSessionConfigOptions / setSessionModel / setSessionThoughtLevel", async () => {
    const options = () =>
      sidecar
        .call(methods.getSessionConfigOptions, { vmId, sessionId })
        .then((r) => JSON.parse(r.json) as { id: string; category: string; currentValue: string }[]);
    expect((await options()).map((o) => [o.id, o.category, o.currentValue])).toEqual([
      ["model", "model", "small"],
      ["thought_level", "thought_level", "low"],
    ]);
    const model = resultOf((await sidecar.call(methods.setSessionModel, { vmId, sessionId, model: "large" })).responseJson);
    expect(model).toMatchObject({ configOptions: [{ id: "model", currentValue: "large" }, { id: "thought_level" }] });
    resultOf((await sidecar.call(methods.setSessionThoughtLevel, { vmId, sessionId, level: "high" })).responseJson);
    expect((await options()).map((o) => o.currentValue)).toEqual(["large", "high"]);
    expect(JSON.parse((await prompt(sessionId, "info")).text)).toMatchObject({ model: "large", thoughtLevel: "high" });
    await expect(sidecar.call(methods.setSessionModel, { vmId, sessionId, model: "huge" })).rejects.toMatchObject({
      code: "AGENT_ERROR",
    });
    await expect(sidecar.call(methods.setSessionThoughtLevel, { vmId, sessionId, level: "extreme" })).rejects.toMatchObject({
      code: "AGENT_ERROR",
    });
    expect((await options()).map((o) => o.currentValue)).toEqual(["large", "high"]);
    await expect(sidecar.call(methods.getSessionConfigOptions, { vmId, sessionId: "no-such" })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });

  it("setSessionModel / setSessionThoughtLevel fail with FAILED_PRECONDITION when the agent offers no such option", async () => {
    const bare = await open({ env: { SCRIPTED_NO_CONFIG_OPTIONS: "1" } });
    expect(JSON.parse((await sidecar.call(methods.getSessionConfigOptions, { vmId, sessionId: bare })).json)).toEqual([]);
    await expect(sidecar.call(methods.setSessionModel, { vmId, sessionId: bare, model: "large" })).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
    });
    await expect(sidecar.call(methods.setSessionThoughtLevel, { vmId, sessionId: bare, level: "high" })).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
    });
    await close(bare);
  });

  it("rawSessionSend answers with the agent's JSON-RPC response, an error response included", async () => {
    const echoed = await sidecar.call(methods.rawSessionSend, {
      vmId,
      sessionId,
      method: "_scripted/echo",
      paramsJson: '{"a":[1,2]}',
    });
    expect(resultOf(echoed.responseJson)).toEqual({ echoed: { a: [1, 2] } });
    const unknown = JSON.parse(
      (await sidecar.call(methods.rawSessionSend, { vmId, sessionId, method: "_scripted/nope", paramsJson: "" })).responseJson,
    );
    expect(unknown).toEqual({ jsonrpc: "2.0", id: expect.any(Number), error: expect.objectContaining({ code: -32601 }) });
    await expect(
      sidecar.call(methods.rawSessionSend, { vmId, sessionId, method: "_scripted/echo", paramsJson: "{oops" }),
    ).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(sidecar.call(methods.rawSessionSend, { vmId, sessionId, method: "" })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(sidecar.call(methods.rawSessionSend, { vmId, sessionId: "no-such", method: "_scripted/echo" })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });
});

describe("prompts", () => {
  let sessionId: string;
  beforeAll(async () => {
    sessionId = await open();
  });
  afterAll(() => close(sessionId));

  it("prompt answers with the JSON-RPC response and the turn's message text", async () => {
    const response = await prompt(sessionId, "echo hello conformance world");
    expect(stopReason(response)).toBe("end_turn");
    expect(response.text).toBe("hello conformance world");
    // The text is this turn's only.
    expect((await prompt(sessionId, "echo again")).text).toBe("again");
    // The agent fails the turn: AGENT_ERROR, and the session goes on.
    await expect(prompt(sessionId, "fail on purpose")).rejects.toMatchObject({ code: "AGENT_ERROR" });
    expect((await prompt(sessionId, "echo after")).text).toBe("after");
    await expect(sidecar.call(methods.prompt, { vmId: "vm-unknown", sessionId, text: "echo x" })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });

  it("serves the agent's fs/read_text_file and fs/write_text_file against the VM", async () => {
    expect((await prompt(sessionId, "write /tmp/agent.txt written by the agent")).text).toBe("wrote /tmp/agent.txt");
    expect(text((await sidecar.call(methods.readFile, { vmId, path: "/tmp/agent.txt" })).content)).toBe("written by the agent");
    await sidecar.call(methods.writeFile, { vmId, path: "/tmp/for-agent.txt", content: new TextEncoder().encode("line 1\nline 2") });
    expect((await prompt(sessionId, "read /tmp/for-agent.txt")).text).toBe("line 1\nline 2");
    // Failures reach the agent as JSON-RPC errors, not the prompt's caller.
    expect((await prompt(sessionId, "read /tmp/absent.txt")).text).toMatch(/^error: /);
    expect((await prompt(sessionId, "write relative.txt x")).text).toMatch(/^error: /);
  });

  it("serves the agent's terminal/* against the VM", async () => {
    expect((await prompt(sessionId, "terminal echo from-terminal; exit 3")).text).toBe("exit 3: from-terminal\n");
  });

  it("refuses a second prompt while one runs; cancelSession ends the running one with stopReason cancelled", async () => {
    const running = prompt(sessionId, "wait");
    await said(sessionId, "waiting");
    await expect(prompt(sessionId, "echo overlap")).rejects.toMatchObject({ code: "FAILED_PRECONDITION" });
    const cancelled = await sidecar.call(methods.cancelSession, { vmId, sessionId });
    expect(JSON.parse(cancelled.responseJson)).toEqual({ jsonrpc: "2.0", id: expect.any(Number), result: null });
    expect(stopReason(await running)).toBe("cancelled");
    expect((await prompt(sessionId, "echo next turn")).text).toBe("next turn");
    await expect(sidecar.call(methods.cancelSession, { vmId, sessionId: "no-such" })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("fails a prompt that outlives prompt_timeout_ms with TIMEOUT, and the session goes on", async () => {
    const quick = await open({ promptTimeoutMs: 300 });
    await expect(prompt(quick, "wait")).rejects.toMatchObject({ code: "TIMEOUT" });
    expect((await prompt(quick, "echo alive")).text).toBe("alive");
    await close(quick);
  });

  it("closeSession during a prompt fails it with CANCELLED", async () => {
    const doomed = await open();
    const running = prompt(doomed, "wait");
    await said(doomed, "waiting");
    await close(doomed);
    await expect(running).rejects.toMatchObject({ code: "CANCELLED" });
    await expect(sidecar.call(methods.getSessionEvents, { vmId, sessionId: doomed })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("an agent that crashes fails its prompt with AGENT_ERROR; the VM and its other sessions go on", async () => {
    const crashing = await open();
    const events = sidecar.stream(methods.onSessionEvent, { vmId, sessionId: crashing });
    const failure = await prompt(crashing, "crash").catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RpcFailure);
    expect(failure).toMatchObject({ code: "AGENT_ERROR" });
    // Its event stream ends, and it is gone.
    await events.done;
    expect(chunks(events.items)).toEqual(["crashing"]);
    expect((await sidecar.call(methods.listSessions, { vmId })).sessions.map((s) => s.sessionId)).not.toContain(crashing);
    await expect(prompt(crashing, "echo x")).rejects.toMatchObject({ code: "NOT_FOUND" });
    // The VM, the other session and new sessions are fine.
    expect(await sidecar.call(methods.exec, { vmId, command: "echo vm-ok" })).toMatchObject({ exitCode: 0, stdout: "vm-ok\n" });
    expect((await prompt(sessionId, "echo survivor")).text).toBe("survivor");
    const fresh = await open();
    expect((await prompt(fresh, "echo fresh")).text).toBe("fresh");
    await close(fresh);
  });

  it("disposing the VM ends its sessions: a running prompt fails with VM_DISPOSED", async () => {
    const other = (await sidecar.call(methods.create, { config: scriptedAgentVmConfig() as never })).vmId;
    const { sessionId: doomed } = await sidecar.call(methods.createSession, { vmId: other, agentType: SCRIPTED_AGENT_ID });
    const events = sidecar.stream(methods.onSessionEvent, { vmId: other, sessionId: doomed, since: 0 });
    const running = sidecar.call(methods.prompt, { vmId: other, sessionId: doomed, text: "wait" });
    await until(() => chunks(events.items).includes("waiting"), "the agent to wait");
    await sidecar.call(methods.dispose, { vmId: other });
    await expect(running).rejects.toMatchObject({ code: "VM_DISPOSED" });
    await events.done;
    await expect(sidecar.call(methods.listSessions, { vmId: other })).rejects.toMatchObject({ code: "VM_DISPOSED" });
  });
});

describe("permissions (ClientService.RequestPermission → SessionService.RespondPermission)", () => {
  let sessionId: string;
  beforeAll(async () => {
    sessionId = await open();
  });
  afterAll(() => close(sessionId));

  it("offers the request to the client, and the client's reply reaches the agent", async () => {
    const permissions = permissionHandler(() => ({ handled: true }));
    for (const [reply, option] of [
      ["once", "allow_once"],
      ["always", "allow_always"],
      ["reject", "reject_once"],
    ]) {
      const running = prompt(sessionId, "ask Delete the build folder");
      const request = await permissions.next();
      expect(request).toMatchObject({ vmId, sessionId, permissionId: expect.stringMatching(/./), description: "Delete the build folder" });
      expect(JSON.parse(request.paramsJson)).toMatchObject({
        sessionId,
        toolCall: { toolCallId: "call-1", title: "Delete the build folder" },
        options: [{ kind: "allow_once" }, { kind: "allow_always" }, { kind: "reject_once" }],
      });
      const answered = await sidecar.call(methods.respondPermission, { vmId, sessionId, permissionId: request.permissionId, reply });
      expect(JSON.parse(answered.responseJson)).toEqual({ jsonrpc: "2.0", id: expect.any(Number), result: null });
      const response = await running;
      expect(response.text).toBe(`outcome: selected ${option}`);
      expect(stopReason(response)).toBe("end_turn");
      // Answered once: a second answer finds nothing pending.
      await expect(
        sidecar.call(methods.respondPermission, { vmId, sessionId, permissionId: request.permissionId, reply: "once" }),
      ).rejects.toMatchObject({ code: "NOT_FOUND" });
    }
    expect(sidecar.clientCalls.filter((c) => c.method === "requestPermission")).toHaveLength(3);
  });

  it("applies the session's default reply at once when the client has no handler (handled: false) or fails", async () => {
    permissionHandler(() => ({ handled: false }));
    expect((await prompt(sessionId, "ask")).text).toBe("outcome: selected reject_once");
    const permissive = await open({ permissionDefault: "always" });
    expect((await prompt(permissive, "ask")).text).toBe("outcome: selected allow_always");
    await close(permissive);
    sidecar.serveClient(methods.requestPermission, () => {
      throw new RpcFailure({ code: 8, errno: "", message: "this client cannot ask anyone", limit: "" });
    });
    expect((await prompt(sessionId, "ask")).text).toBe("outcome: selected reject_once");
  });

  it("applies the default reply when nobody answers within permission_timeout_ms", async () => {
    const permissions = permissionHandler(() => ({ handled: true }));
    const impatient = await open({ permissionTimeoutMs: 300, permissionDefault: "once" });
    const started = Date.now();
    const running = prompt(impatient, "ask");
    const request = await permissions.next();
    expect((await running).text).toBe("outcome: selected allow_once");
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await expect(
      sidecar.call(methods.respondPermission, { vmId, sessionId: impatient, permissionId: request.permissionId, reply: "once" }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
    await close(impatient);
  });

  it("cancelSession answers a pending permission request with outcome cancelled", async () => {
    const permissions = permissionHandler(() => ({ handled: true }));
    const running = prompt(sessionId, "ask");
    const request = await permissions.next();
    await sidecar.call(methods.cancelSession, { vmId, sessionId });
    const response = await running;
    expect(response.text).toBe("outcome: cancelled");
    expect(stopReason(response)).toBe("cancelled");
    await expect(
      sidecar.call(methods.respondPermission, { vmId, sessionId, permissionId: request.permissionId, reply: "once" }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("respondPermission refuses a reply other than once / always / reject, and unknown sessions", async () => {
    await expect(
      sidecar.call(methods.respondPermission, { vmId, sessionId, permissionId: "permission-1", reply: "maybe" }),
    ).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(
      sidecar.call(methods.respondPermission, { vmId, sessionId: "no-such", permissionId: "permission-1", reply: "once" }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("session events", () => {
  it("onSessionEvent streams every session/update in order, numbered from 1 without gaps, and ends when the session closes", async () => {
    const sessionId = await open();
    const live = sidecar.stream(methods.onSessionEvent, { vmId, sessionId });
    const response = await prompt(sessionId, "many 30");
    const expected = Array.from({ length: 30 }, (_, i) => `${i + 1} `);
    expect(response.text).toBe(expected.join(""));
    await until(() => live.items.length >= 30, "30 events");
    expect(live.items.map((e) => e.sequenceNumber)).toEqual(expected.map((_, i) => i + 1));
    expect(chunks(live.items)).toEqual(expected);
    for (const event of live.items) expect(notification(event).params.sessionId).toBe(sessionId);
    // since: recorded events after it first, then live ones.
    const replay = sidecar.stream(methods.onSessionEvent, { vmId, sessionId, since: 25 });
    await until(() => replay.items.length >= 5, "the replayed events");
    await prompt(sessionId, "echo live");
    await until(() => live.items.length >= 31 && replay.items.length >= 6, "the live event");
    expect(replay.items.map((e) => e.sequenceNumber)).toEqual([26, 27, 28, 29, 30, 31]);
    expect(live.items.at(-1)).toEqual(replay.items.at(-1));
    await close(sessionId);
    await Promise.all([live.done, replay.done]);
    expect(live.order.filter((o) => o === "end")).toHaveLength(1);
    expect(live.order.at(-1)).toBe("end");
    expect(live.items).toHaveLength(31);
    await expect(sidecar.stream(methods.onSessionEvent, { vmId, sessionId }).done).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("getSessionEvents returns the recorded events, filtered by since and method", async () => {
    permissionHandler(() => ({ handled: false }));
    const sessionId = await open();
    expect((await sidecar.call(methods.getSessionEvents, { vmId, sessionId })).events).toEqual([]);
    await prompt(sessionId, "many 4");
    await prompt(sessionId, "ask");
    const all = (await sidecar.call(methods.getSessionEvents, { vmId, sessionId })).events;
    expect(all.map((e) => e.sequenceNumber)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(all.map((e) => notification(e).params.update.sessionUpdate)).toEqual([
      ...Array(4).fill("agent_message_chunk"),
      "tool_call",
      "agent_message_chunk",
    ]);
    const since = (await sidecar.call(methods.getSessionEvents, { vmId, sessionId, since: 4 })).events;
    expect(since).toEqual(all.slice(4));
    expect((await sidecar.call(methods.getSessionEvents, { vmId, sessionId, since: 6 })).events).toEqual([]);
    expect((await sidecar.call(methods.getSessionEvents, { vmId, sessionId, method: "session/update" })).events).toEqual(all);
    expect((await sidecar.call(methods.getSessionEvents, { vmId, sessionId, method: "session/other" })).events).toEqual([]);
    await close(sessionId);
    await expect(sidecar.call(methods.getSessionEvents, { vmId, sessionId })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("coverage", () => {
  it("answers NOT_FOUND for an unknown VM on every SessionService rpc", async () => {
    for (const method of Object.values(methods) as MethodDescriptor[]) {
      if (method.service !== "SessionService") continue;
      const request = { vmId: "vm-unknown", sessionId: "no-such", agentType: SCRIPTED_AGENT_ID, method: "x", reply: "once" };
      const done =
        method.kind === "server_streaming"
          ? sidecar.stream(method as MethodDescriptor<unknown, unknown, "server_streaming">, request).done
          : sidecar.call(method as MethodDescriptor<unknown, unknown, "unary">, request);
      await expect(done, method.localName).rejects.toMatchObject({ code: "NOT_FOUND" });
    }
  });

  it("exercised every SessionService rpc on its happy path and its main error path, and ClientService.RequestPermission", () => {
    expect(uncovered((service) => service === "SessionService")).toEqual([]);
    expect([...clientCoverage]).toContain("requestPermission");
  });
});
