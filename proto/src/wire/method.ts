import type { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";

/** The encode/decode functions ts-proto generates for every message. */
export interface MessageCodec<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
  decode(input: BinaryReader | Uint8Array, length?: number): T;
  fromPartial(object: never): T;
}

export type MethodKind = "unary" | "server_streaming";

/** One entry of the generated method table. */
export interface MethodDescriptor<Req = unknown, Res = unknown, K extends MethodKind = MethodKind> {
  /** "agentos.v1.FilesystemService/ReadFile": what travels in Request.method. */
  readonly fullName: string;
  readonly service: string;
  readonly name: string;
  /** "readFile": the key in the method table. */
  readonly localName: string;
  readonly kind: K;
  /** The side that serves the call. */
  readonly implementedBy: "sidecar" | "client";
  readonly request: MessageCodec<Req>;
  /** For a server-streaming call: the type of each item. */
  readonly response: MessageCodec<Res>;
}

/** Types a method table entry (used by generated code). */
export function defineMethod<Req, Res, K extends MethodKind>(descriptor: MethodDescriptor<Req, Res, K>): MethodDescriptor<Req, Res, K> {
  return descriptor;
}
