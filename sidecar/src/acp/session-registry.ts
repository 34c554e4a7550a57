import type * as acp from "@agentclientprotocol/sdk";
import { type CreateSessionRequest, RpcError } from "@agentos/proto";
import { invalidArgument, notFound } from "../errors.js";
import type { Vm } from "../vm/vm.js";
import { startAgentProcess } from "./agent-process.js";
import { sessionInstructions } from "./instructions.js";
import { PERMISSION_REPLIES, type PermissionReply } from "./permissions.js";
import { AgentSession, type SessionTimeouts } from "./session.js";

/** Bounded defaults; a session's options may change the prompt and permission ones. */
export const SESSION_DEFAULTS = {
  startMs: 60_000,
  requestMs: 60_000,
  promptMs: 30 * 60_000,
  permissionMs: 5 * 60_000,
} as const satisfies SessionTimeouts;

/** Sessions one VM may run at once (each is an adapter process). */
export const SESSIONS_PER_VM_MAX = 16;

export interface SessionRegistryOptions {
  /** Offers a permission request to the client; false when it has no handler. */
  offerPermission(vmId: string, sessionId: string, permissionId: string, params: unknown, description: string): Promise<boolean>;
  log(message: string): void;
}

/** The ACP sessions of every VM of one sidecar connection, by VM and session id. */
export class SessionRegistry {
  private readonly byVm = new Map<string, Map<string, AgentSession>>();
  private readonly starting = new Map<string, number>();

  constructor(private readonly options: SessionRegistryOptions) {}

  async create(vm: Vm, request: CreateSessionRequest): Promise<AgentSession> {
    const install = vm.agents.find((a) => a.software.id === request.agentType);
    if (!install) {
      const offered = vm.agents.map((a) => a.software.id);
      throw notFound(
        `no agent "${request.agentType}" in this VM (${offered.length ? `offered: ${offered.join(", ")}` : "add its package to AgentOs.create({ software })"})`,
      );
    }
    if (!install.installed) {
      throw new RpcError(
        "FAILED_PRECONDITION",
        `the ${request.agentType} adapter ${install.software.entry} is missing on the sidecar's host (was ${install.software.acpAdapter} built?)`,
      );
    }
    const permissionDefault = (request.permissionDefault || "reject") as PermissionReply;
    if (!PERMISSION_REPLIES.includes(permissionDefault)) {
      throw invalidArgument(`permission default must be one of ${PERMISSION_REPLIES.join(", ")}, not "${permissionDefault}"`);
    }
    const mcpServers = parseJson<acp.McpServer[]>(request.mcpServersJson, "mcpServers", []);
    if (!Array.isArray(mcpServers)) throw invalidArgument("mcpServers must be an array");
    const live = (this.byVm.get(vm.id)?.size ?? 0) + (this.starting.get(vm.id) ?? 0);
    if (live >= SESSIONS_PER_VM_MAX) {
      throw new RpcError("RESOURCE_EXHAUSTED", `a VM runs at most ${SESSIONS_PER_VM_MAX} sessions at once; close one first`);
    }

    const timeouts: SessionTimeouts = {
      ...SESSION_DEFAULTS,
      promptMs: positive(request.promptTimeoutMs, SESSION_DEFAULTS.promptMs, "promptTimeoutMs"),
      permissionMs: positive(request.permissionTimeoutMs, SESSION_DEFAULTS.permissionMs, "permissionTimeoutMs"),
    };
    const software = install.software;
    const cwd = request.cwd || vm.home;
    const instructions = await sessionInstructions(vm, {
      skipBase: request.skipOsInstructions,
      additional: request.additionalInstructions,
    });
    const args = [...software.args];
    if (software.instructionsFlag && instructions) args.push(software.instructionsFlag, instructions);
    const agentLabel = software.id;
    this.starting.set(vm.id, (this.starting.get(vm.id) ?? 0) + 1);
    try {
      const process = startAgentProcess(vm, { entry: software.entry, args, env: { ...software.env, ...request.env }, cwd }, (line) =>
        this.options.log(`[${vm.id} ${agentLabel}] ${line}`),
      );
      const session = await AgentSession.start({
        vm,
        agentType: request.agentType,
        process,
        cwd,
        mcpServers,
        permissionDefault,
        timeouts,
        hooks: {
          offerPermission: (sessionId, permissionId, params, description) =>
            this.options.offerPermission(vm.id, sessionId, permissionId, params, description),
          onEnded: (ended) => this.forget(vm.id, ended),
          log: this.options.log,
        },
      });
      const sessions = this.byVm.get(vm.id) ?? new Map<string, AgentSession>();
      if (sessions.has(session.sessionId)) {
        session.close();
        throw new RpcError("AGENT_ERROR", `the ${agentLabel} agent reused session id "${session.sessionId}" of a live session in this VM`);
      }
      sessions.set(session.sessionId, session);
      this.byVm.set(vm.id, sessions);
      return session;
    } finally {
      this.starting.set(vm.id, (this.starting.get(vm.id) ?? 1) - 1);
    }
  }

  get(vmId: string, sessionId: string): AgentSession {
    const session = this.byVm.get(vmId)?.get(sessionId);
    if (!session) throw notFound(`no session "${sessionId}" in VM ${vmId} (closed, or never created)`);
    return session;
  }

  list(vmId: string): AgentSession[] {
    return [...(this.byVm.get(vmId)?.values() ?? [])];
  }

  /** Ends every session of a VM (it is being disposed). */
  closeVm(vmId: string): void {
    for (const session of this.list(vmId)) session.close(new RpcError("VM_DISPOSED", `VM ${vmId} was disposed`));
    this.byVm.delete(vmId);
  }

  private forget(vmId: string, session: AgentSession): void {
    const sessions = this.byVm.get(vmId);
    if (sessions?.get(session.sessionId) === session) sessions.delete(session.sessionId);
  }
}

function parseJson<T>(text: string, what: string, fallback: T): T {
  if (!text) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw invalidArgument(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}

function positive(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw invalidArgument(`${what} must be a positive number of milliseconds`);
  return value;
}
