import type { DescFile, DescMessage, DescMethod, DescService } from "@bufbuild/protobuf";
import { getComments } from "@bufbuild/protoplugin";

/** Who implements a service: services named `Client…` are served by the client. */
export type ImplementedBy = "sidecar" | "client";

export type MethodKind = "unary" | "server_streaming";

export interface MethodModel {
  /** "agentos.v1.FilesystemService/ReadFile" */
  fullName: string;
  /** "ReadFile" */
  name: string;
  /** "readFile": the method's key in the method table, unique across services. */
  localName: string;
  kind: MethodKind;
  request: MessageRef;
  response: MessageRef;
  comment: string;
}

export interface ServiceModel {
  /** "FilesystemService" */
  name: string;
  /** "filesystemService" */
  localName: string;
  typeName: string;
  implementedBy: ImplementedBy;
  methods: MethodModel[];
  comment: string;
}

export interface MessageRef {
  /** The TypeScript name ts-proto gives the message. */
  tsName: string;
  /** The proto file that defines it, without ".proto" ("agentos/v1/filesystem"). */
  fileName: string;
}

/** Builds the model every emitter works from and checks the rules the runtime relies on. */
export function buildModel(files: readonly DescFile[]): ServiceModel[] {
  const services: ServiceModel[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    for (const service of file.services) {
      const model = serviceModel(service);
      for (const method of model.methods) {
        const clash = seen.get(method.localName);
        if (clash) {
          throw new Error(
            `rpc ${method.fullName} and ${clash} share the name "${method.localName}"; rpc names must be unique across services because the method table and the AgentOs facade are keyed by them`,
          );
        }
        seen.set(method.localName, method.fullName);
      }
      services.push(model);
    }
  }
  return services;
}

function serviceModel(service: DescService): ServiceModel {
  return {
    name: service.name,
    localName: lowerFirst(service.name),
    typeName: service.typeName,
    implementedBy: service.name.startsWith("Client") ? "client" : "sidecar",
    methods: service.methods.map(methodModel),
    comment: commentOf(service),
  };
}

function methodModel(method: DescMethod): MethodModel {
  if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
    throw new Error(
      `rpc ${method.parent.typeName}.${method.name} is ${method.methodKind}; the agentOS wire protocol carries unary and server-streaming calls only`,
    );
  }
  return {
    fullName: `${method.parent.typeName}/${method.name}`,
    name: method.name,
    localName: lowerFirst(method.name),
    kind: method.methodKind,
    request: messageRef(method.input),
    response: messageRef(method.output),
    comment: commentOf(method),
  };
}

function messageRef(message: DescMessage): MessageRef {
  if (message.parent !== undefined) {
    throw new Error(`${message.typeName} is a nested message; rpc requests and responses must be top-level messages`);
  }
  return { tsName: message.name, fileName: message.file.name };
}

function commentOf(desc: DescService | DescMethod): string {
  return (getComments(desc).leading ?? "").trim();
}

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}
