import { PassThrough } from "node:stream";
import {
  CreateVmConfig,
  FrameDecoder,
  FrameWriter,
  type MethodDescriptor,
  methods,
  RpcPeer,
  SCHEMA_HASH,
  unaryEntry,
} from "@agentos/proto";
import { type Sidecar, type SidecarOptions, serve } from "../src/server.js";
import { SIDECAR_VERSION } from "../src/version.js";

type DeepPartial<T> = T extends Uint8Array
  ? T
  : T extends (infer U)[]
    ? DeepPartial<U>[]
    : T extends object
      ? { [K in keyof T]?: DeepPartial<T[K]> }
      : T;

/** An in-process sidecar and a client peer talking to it over streams, as over stdio. */
export class TestSidecar {
  readonly logs: string[] = [];
  private constructor(
    readonly peer: RpcPeer,
    readonly sidecar: Sidecar,
  ) {}

  /** `options`: serve() options beyond the streams (e.g. maxVms). */
  static async start(options: Pick<SidecarOptions, "maxVms" | "maxFrameBytes"> = {}): Promise<TestSidecar> {
    const toSidecar = new PassThrough();
    const fromSidecar = new PassThrough();
    const logs: string[] = [];
    const sidecar = serve({ ...options, input: toSidecar, output: fromSidecar, log: (m) => logs.push(m) });
    const writer = new FrameWriter(toSidecar);
    const peer = new RpcPeer({
      role: "client",
      transport: writer,
      dispatcher: new Map([[methods.ping.fullName, unaryEntry(methods.ping, (r) => ({ nonce: `pong:${r.nonce}` }))]]),
    });
    let accepted!: () => void;
    const ready = new Promise<void>((resolve) => {
      accepted = resolve;
    });
    let open = false;
    const decoder = new FrameDecoder({
      onFrame: (frame) => {
        if (open) peer.handleFrame(frame);
        else if (frame.kind?.$case === "helloAccepted") {
          open = true;
          accepted();
        }
      },
      onFault: (fault) => logs.push(`client fault: ${fault.message}`),
    });
    fromSidecar.on("data", (chunk: Buffer) => decoder.push(chunk));
    writer.send({ kind: { $case: "hello", value: { version: SIDECAR_VERSION, schemaHash: SCHEMA_HASH, peer: "test" } } });
    await ready;
    const harness = new TestSidecar(peer, sidecar);
    harness.logs.push(...logs);
    return harness;
  }

  call<Req, Res>(method: MethodDescriptor<Req, Res, "unary">, request: DeepPartial<Req>): Promise<Res> {
    return this.peer.call(method, (method.request.fromPartial as (r: unknown) => Req)(request));
  }

  /** Collects a stream until it ends; resolves with its items. */
  collect<Req, Item>(method: MethodDescriptor<Req, Item, "server_streaming">, request: DeepPartial<Req>): Promise<Item[]> {
    return new Promise((resolve, reject) => {
      const items: Item[] = [];
      this.peer.subscribe(
        method,
        (method.request.fromPartial as (r: unknown) => Req)(request),
        (item) => items.push(item),
        (error) => (error ? reject(error) : resolve(items)),
      );
    });
  }

  async createVm(config: DeepPartial<CreateVmConfig> = {}): Promise<string> {
    const { vmId } = await this.call(methods.create, { config: CreateVmConfig.fromPartial(config as never) });
    return vmId;
  }

  async exec(vmId: string, command: string, options: { timeoutMs?: number; cwd?: string; env?: Record<string, string> } = {}) {
    return this.call(methods.exec, { vmId, command, ...options });
  }

  async stop(): Promise<void> {
    await this.sidecar.shutdown();
  }
}

export const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8");
export const bytes = (s: string) => new TextEncoder().encode(s);
