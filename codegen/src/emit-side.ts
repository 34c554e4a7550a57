import type { Schema } from "@bufbuild/protoplugin";
import type { ImplementedBy, MethodModel, ServiceModel } from "./model.js";
import { HEADER, importTypesFromProto, jsdoc } from "./text.js";

const TITLE: Record<ImplementedBy, string> = { sidecar: "Sidecar", client: "Client" };

/**
 * One side of the wire (sidecar or client):
 * - handlers.ts: a handler interface per service this side implements, and
 *   the dispatcher that decodes requests and calls them;
 * - forwarders.ts: one method per rpc the other side implements.
 */
export function emitSide(schema: Schema, services: ServiceModel[], side: ImplementedBy): void {
  const other: ImplementedBy = side === "sidecar" ? "client" : "sidecar";
  emitHandlers(
    schema,
    services.filter((s) => s.implementedBy === side),
    side,
  );
  emitForwarders(
    schema,
    services.filter((s) => s.implementedBy === other),
    other,
  );
}

function emitHandlers(schema: Schema, services: ServiceModel[], side: ImplementedBy): void {
  const f = schema.generateFile("handlers.ts");
  let out = HEADER;
  out += `import { type CallContext, type Dispatcher, type ServerStream, methods, streamEntry, unaryEntry } from "@agentos/proto";\n`;
  out += importTypesFromProto(services);
  for (const service of services) {
    out += `\n${jsdoc(`Implements ${service.typeName}.${service.comment ? `\n\n${service.comment}` : ""}`)}`;
    out += `export interface ${service.name}Handler {\n`;
    for (const method of service.methods) {
      out += jsdoc(method.comment, "  ");
      out += `  ${handlerSignature(method)};\n`;
    }
    out += "}\n";
  }
  out += `\n/** Every service the ${side} implements. */\n`;
  out += `export interface ${TITLE[side]}Handlers {\n`;
  for (const service of services) out += `  ${service.localName}: ${service.name}Handler;\n`;
  out += "}\n\n";
  out += `/** Maps each fully qualified method name to its decoder and handler. */\n`;
  out += `export function create${TITLE[side]}Dispatcher(handlers: ${TITLE[side]}Handlers): Dispatcher {\n`;
  out += "  return new Map([\n";
  for (const service of services) {
    for (const method of service.methods) {
      const call =
        method.kind === "unary"
          ? `unaryEntry(methods.${method.localName}, (request, context) => handlers.${service.localName}.${method.localName}(request, context))`
          : `streamEntry(methods.${method.localName}, (request, stream, context) => handlers.${service.localName}.${method.localName}(request, stream, context))`;
      out += `    [methods.${method.localName}.fullName, ${call}],\n`;
    }
  }
  out += "  ]);\n}\n";
  f.print(out);
}

function handlerSignature(method: MethodModel): string {
  const req = method.request.tsName;
  const res = method.response.tsName;
  if (method.kind === "unary") {
    return `${method.localName}(request: ${req}, context: CallContext): ${res} | Promise<${res}>`;
  }
  return `${method.localName}(request: ${req}, stream: ServerStream<${res}>, context: CallContext): Promise<void>`;
}

function emitForwarders(schema: Schema, services: ServiceModel[], target: ImplementedBy): void {
  const f = schema.generateFile("forwarders.ts");
  let out = HEADER;
  const hasStreams = services.some((s) => s.methods.some((m) => m.kind === "server_streaming"));
  out += `import { type CallOptions, type Caller, ${hasStreams ? "type StreamEndHandler, type Unsubscribe, " : ""}methods } from "@agentos/proto";\n`;
  out += importTypesFromProto(services);
  out += `\n/** One forwarder per rpc the ${target} implements: encodes, sends, decodes. Nothing else. */\n`;
  out += `export class ${TITLE[target]}Forwarders {\n`;
  out += "  constructor(private readonly caller: Caller) {}\n";
  for (const service of services) {
    for (const method of service.methods) {
      out += `\n${jsdoc(`${method.fullName}${method.comment ? `\n\n${method.comment}` : ""}`, "  ")}`;
      const req = method.request.tsName;
      const res = method.response.tsName;
      if (method.kind === "unary") {
        out += `  ${method.localName}(request: ${req}, options?: CallOptions): Promise<${res}> {\n`;
        out += `    return this.caller.call(methods.${method.localName}, request, options);\n  }\n`;
      } else {
        out += `  ${method.localName}(request: ${req}, onItem: (item: ${res}) => void, onEnd?: StreamEndHandler): Unsubscribe {\n`;
        out += `    return this.caller.subscribe(methods.${method.localName}, request, onItem, onEnd);\n  }\n`;
      }
    }
  }
  out += "}\n";
  f.print(out);
}
