import type { SessionEvent } from "@agentos/proto";
import type { SequencedEvent } from "../acp/event-log.js";
import { PERMISSION_REPLIES, type PermissionReply } from "../acp/permissions.js";
import type { JsonRpcResponse } from "../acp/session.js";
import type { SessionRegistry } from "../acp/session-registry.js";
import { invalidArgument } from "../errors.js";
import type { SessionServiceHandler } from "../generated/handlers.js";
import type { VmRegistry } from "../vm-registry.js";

export function createSessionHandlers(vms: VmRegistry, sessions: SessionRegistry): SessionServiceHandler {
  const session = (request: { vmId: string; sessionId: string }) => {
    vms.get(request.vmId);
    return sessions.get(request.vmId, request.sessionId);
  };
  return {
    listAgents(request) {
      return {
        agents: vms.get(request.vmId).agents.map((a) => ({
          id: a.software.id,
          acpAdapter: a.software.acpAdapter,
          agentPackage: a.software.agentPackage,
          installed: a.installed,
        })),
      };
    },
    async createSession(request) {
      const created = await sessions.create(vms.get(request.vmId), request);
      return { sessionId: created.sessionId };
    },
    async prompt(request) {
      const { response, text } = await session(request).prompt(request.text);
      return { responseJson: JSON.stringify(response), text };
    },
    async cancelSession(request) {
      return call(await session(request).cancel());
    },
    closeSession(request) {
      session(request).close();
      return {};
    },
    async destroySession(request) {
      await session(request).destroy();
      return {};
    },
    resumeSession(request) {
      return { sessionId: session(request).sessionId };
    },
    listSessions(request) {
      vms.get(request.vmId);
      return { sessions: sessions.list(request.vmId).map((s) => ({ sessionId: s.sessionId, agentType: s.agentType })) };
    },
    getSessionEvents(request) {
      return {
        events: session(request)
          .events.list(request.since ?? 0, request.method)
          .map(wireEvent),
      };
    },
    onSessionEvent(request, stream) {
      const target = session(request);
      return new Promise<void>((resolve) => {
        const unsubscribe = target.events.subscribe((event) => stream.send(wireEvent(event)), request.since);
        const stop = () => {
          unsubscribe();
          unwatch();
          resolve();
        };
        const unwatch = target.onEnd(stop);
        stream.signal.addEventListener("abort", stop, { once: true });
      });
    },
    respondPermission(request) {
      if (!PERMISSION_REPLIES.includes(request.reply as PermissionReply)) {
        throw invalidArgument(`reply must be one of ${PERMISSION_REPLIES.join(", ")}, not "${request.reply}"`);
      }
      return call(session(request).respondPermission(request.permissionId, request.reply as PermissionReply));
    },
    async setSessionMode(request) {
      return call(await session(request).setMode(request.modeId));
    },
    getSessionModes(request) {
      return json(session(request).modes);
    },
    async setSessionModel(request) {
      return call(await session(request).setConfigByCategory("model", request.model));
    },
    async setSessionThoughtLevel(request) {
      return call(await session(request).setConfigByCategory("thought_level", request.level));
    },
    getSessionConfigOptions(request) {
      return json(session(request).configOptions);
    },
    getSessionCapabilities(request) {
      return json(session(request).capabilities);
    },
    getSessionAgentInfo(request) {
      return json(session(request).agentInfo);
    },
    async rawSessionSend(request) {
      if (!request.method) throw invalidArgument("method is empty");
      let params: unknown;
      try {
        params = request.paramsJson ? JSON.parse(request.paramsJson) : undefined;
      } catch (error) {
        throw invalidArgument(`params are not valid JSON: ${(error as Error).message}`);
      }
      return call(await session(request).rawSend(request.method, params));
    },
  };
}

function wireEvent(event: SequencedEvent): SessionEvent {
  return { sequenceNumber: event.sequenceNumber, notificationJson: JSON.stringify(event.notification) };
}

function call(response: JsonRpcResponse) {
  return { responseJson: JSON.stringify(response) };
}

function json(value: unknown) {
  return { json: JSON.stringify(value ?? null) };
}
