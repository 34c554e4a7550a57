import { type MethodDescriptor, type MethodName, methods, services } from "@agentos/proto";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { SessionRegistry } from "../../sidecar/src/acp/session-registry.js";
import { ClientForwarders } from "../../sidecar/src/generated/forwarders.js";
import { createSidecarDispatcher } from "../../sidecar/src/generated/handlers.js";
import { createFilesystemHandlers } from "../../sidecar/src/handlers/files.js";
import { createProcessHandlers } from "../../sidecar/src/handlers/processes.js";
import { createSessionHandlers } from "../../sidecar/src/handlers/sessions.js";
import { createShellHandlers } from "../../sidecar/src/handlers/shells.js";
import { createVmHandlers } from "../../sidecar/src/handlers/vms.js";
import type { VmRegistry } from "../../sidecar/src/vm-registry.js";
import { AgentOs } from "../src/agent-os.js";
import { SidecarForwarders } from "../src/generated/forwarders.js";
import { createClientDispatcher } from "../src/generated/handlers.js";
import { SidecarConnection } from "../src/sidecar-connection.js";

/** rpcs no AgentOs method maps to, and why. */
const RPCS_WITHOUT_AGENTOS_METHOD: Partial<Record<MethodName, string>> = {
  pingClient: "diagnostic: proves the sidecar→client direction (conformance suite); not part of the AgentOs API",
};

/** Arguments to call each public AgentOs method with. A new method must be added here. */
const ARGS: Record<string, unknown[]> = {
  dispose: [],
  readFile: ["/a"],
  writeFile: ["/a", "text"],
  readFiles: [["/a"]],
  writeFiles: [[{ path: "/a", content: "x" }]],
  mkdir: ["/a", { recursive: true }],
  readdir: ["/a"],
  readdirRecursive: ["/a", { maxDepth: 1 }],
  stat: ["/a"],
  exists: ["/a"],
  move: ["/a", "/b"],
  delete: ["/a", { recursive: true }],
  mountFs: ["/m", { id: "memory" }],
  unmountFs: ["/m"],
  snapshotRootFilesystem: [],
  exec: ["echo", { timeout: 5 }],
  spawn: ["sh", ["-c", "true"]],
  writeProcessStdin: [1, "x"],
  closeProcessStdin: [1],
  onProcessStdout: [1, () => {}],
  onProcessStderr: [1, () => {}],
  onProcessExit: [1, () => {}],
  waitProcess: [1],
  listProcesses: [],
  allProcesses: [],
  processTree: [],
  getProcess: [1],
  stopProcess: [1],
  killProcess: [1],
  fetch: [80, new Request("http://vm/x")],
  openShell: [{ cols: 80 }],
  writeShell: ["shell-1", "ls\n"],
  onShellData: ["shell-1", () => {}],
  resizeShell: ["shell-1", 80, 24],
  closeShell: ["shell-1"],
  listAgents: [],
  createSession: ["pi", { cwd: "/home/user" }],
  prompt: ["s-1", "hi"],
  cancelSession: ["s-1"],
  closeSession: ["s-1"],
  destroySession: ["s-1"],
  resumeSession: ["s-1"],
  listSessions: [],
  getSessionEvents: ["s-1", { since: 1 }],
  onSessionEvent: ["s-1", () => {}],
  onPermissionRequest: ["s-1", () => {}],
  respondPermission: ["s-1", "permission-1", "once"],
  setSessionMode: ["s-1", "plan"],
  getSessionModes: ["s-1"],
  setSessionModel: ["s-1", "m"],
  setSessionThoughtLevel: ["s-1", "high"],
  getSessionConfigOptions: ["s-1"],
  getSessionCapabilities: ["s-1"],
  getSessionAgentInfo: ["s-1"],
  rawSessionSend: ["s-1", "x/y", {}],
};

/**
 * AgentOs methods that register a handler for a client rpc (sidecar → client)
 * instead of calling one: the sidecar calls the rpc, the handler answers.
 */
const METHODS_SERVING_A_CLIENT_RPC: Record<string, MethodName> = {
  onPermissionRequest: "requestPermission",
};

const sidecarMethods = Object.values(methods).filter((m) => m.implementedBy === "sidecar") as MethodDescriptor[];
const clientMethods = Object.values(methods).filter((m) => m.implementedBy === "client") as MethodDescriptor[];

/** Own methods of a class prototype, without the constructor and accessors. */
function prototypeMethods(prototype: object): string[] {
  return Object.getOwnPropertyNames(prototype).filter(
    (name) => name !== "constructor" && typeof Object.getOwnPropertyDescriptor(prototype, name)?.value === "function",
  );
}

/** A connection whose forwarders record which rpc each call reaches. */
function recordingConnection(calls: string[]) {
  const forwarders = new Proxy(
    {},
    {
      get(_target, name) {
        const method = methods[name as MethodName] as MethodDescriptor | undefined;
        return (..._args: unknown[]) => {
          calls.push(String(name));
          if (!method) throw new Error(`no rpc named ${String(name)}`);
          if (method.kind === "server_streaming") return () => {};
          return Promise.resolve(method.response.decode(new Uint8Array()));
        };
      },
    },
  );
  return {
    forwarders,
    usable: true,
    release() {},
    onPermissionRequest() {
      calls.push("client:onPermissionRequest");
      return () => {};
    },
  } as unknown as SidecarConnection;
}

afterEach(() => vi.restoreAllMocks());

describe("parity", () => {
  it("has services on both sides of the wire", () => {
    expect(services.map((s) => s.implementedBy)).toContain("sidecar");
    expect(services.map((s) => s.implementedBy)).toContain("client");
  });

  it("has exactly one client forwarder per sidecar rpc", () => {
    expect(prototypeMethods(SidecarForwarders.prototype).sort()).toEqual(sidecarMethods.map((m) => m.localName).sort());
  });

  it("has exactly one sidecar handler per sidecar rpc", () => {
    const registry = {} as VmRegistry;
    const sessions = {} as SessionRegistry;
    const handlers = {
      vmService: createVmHandlers(registry, sessions),
      sessionService: createSessionHandlers(registry, sessions),
      filesystemService: createFilesystemHandlers(registry),
      processService: createProcessHandlers(registry),
      shellService: createShellHandlers(registry),
    };
    const dispatcher = createSidecarDispatcher(handlers);
    expect([...dispatcher.keys()].sort()).toEqual(sidecarMethods.map((m) => m.fullName).sort());
    const implemented = Object.values(handlers).flatMap((h) =>
      Object.entries(h)
        .filter(([, fn]) => typeof fn === "function")
        .map(([name]) => name),
    );
    expect(implemented.sort()).toEqual(sidecarMethods.map((m) => m.localName).sort());
    for (const method of sidecarMethods) expect(dispatcher.get(method.fullName)?.kind).toBe(method.kind);
  });

  it("has exactly one client handler and one sidecar forwarder per client rpc", () => {
    const dispatcher = createClientDispatcher({
      clientService: { ping: (r) => r, requestPermission: () => ({ handled: false }), callTool: () => ({ outcome: undefined }) },
    });
    expect([...dispatcher.keys()].sort()).toEqual(clientMethods.map((m) => m.fullName).sort());
    expect(prototypeMethods(ClientForwarders.prototype).sort()).toEqual(clientMethods.map((m) => m.localName).sort());
  });

  it("maps every public AgentOs method to exactly one rpc or subscription of the same name", async () => {
    const names = prototypeMethods(AgentOs.prototype);
    expect(names.sort()).toEqual(Object.keys(ARGS).sort());
    const reached = new Set<string>();
    for (const name of names) {
      const calls: string[] = [];
      const vm = Object.assign(Object.create(AgentOs.prototype), {
        connection: recordingConnection(calls),
        vmId: "vm-parity",
        disposed: false,
        limits: {},
      });
      try {
        await (vm as Record<string, (...a: unknown[]) => unknown>)[name](...ARGS[name]);
      } catch {
        // Only which call went out matters here; empty answers may not satisfy the facade.
      }
      if (METHODS_SERVING_A_CLIENT_RPC[name]) {
        expect(calls, `AgentOs.${name}`).toEqual([`client:${name}`]);
        expect((methods[METHODS_SERVING_A_CLIENT_RPC[name]] as MethodDescriptor).implementedBy).toBe("client");
        continue;
      }
      expect(calls, `AgentOs.${name}`).toEqual([name]);
      const method = methods[name as MethodName] as MethodDescriptor;
      expect(method.kind, `AgentOs.${name}`).toBe(name.startsWith("on") ? "server_streaming" : "unary");
      reached.add(name);
    }

    const calls: string[] = [];
    vi.spyOn(SidecarConnection, "acquire").mockResolvedValue(recordingConnection(calls));
    await AgentOs.create().catch(() => {});
    expect(calls).toEqual(["create"]);
    reached.add("create");

    const unreached = sidecarMethods.map((m) => m.localName).filter((n) => !reached.has(n));
    expect(unreached.sort()).toEqual(Object.keys(RPCS_WITHOUT_AGENTOS_METHOD).sort());
  });
});
