import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  ErrorCode,
  type ErrorInfo,
  encodeFrame,
  type Frame,
  FrameDecoder,
  type MethodDescriptor,
  methods,
  SCHEMA_HASH,
} from "@agentos/proto";

/**
 * The sidecar under test: `AGENTOS_SIDECAR` (a command line, run through
 * `sh -c "exec …"`), or this repository's sidecar.
 */
export const SIDECAR_COMMAND =
  process.env.AGENTOS_SIDECAR ??
  `${JSON.stringify(process.execPath)} ${JSON.stringify(fileURLToPath(new URL("../../sidecar/dist/main.js", import.meta.url)))}`;

/** The protocol version this suite speaks (all agentOS packages share one version). */
export const PROTOCOL_VERSION: string = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version;

export type Outcome = "ok" | "error";

/**
 * Which rpcs the suite has seen answered, and how. Vitest isolates test
 * files, so this is per file: each file checks the services it covers (see
 * `uncovered`).
 */
export const coverage = new Map<string, Set<Outcome>>();

/** Sidecar→client rpcs (ClientService) this suite has answered, by local name. */
export const clientCoverage = new Set<string>();

/**
 * The gaps in `coverage` for the sidecar's rpcs of `services`: "<rpc>: happy
 * path" / "<rpc>: error path", unless excused with a reason.
 */
export function uncovered(
  services: (service: string) => boolean,
  excused: { happy?: Partial<Record<string, string>>; error?: Partial<Record<string, string>> } = {},
): string[] {
  const missing: string[] = [];
  for (const method of Object.values(methods) as MethodDescriptor[]) {
    if (method.implementedBy !== "sidecar" || !services(method.service)) continue;
    const seen = coverage.get(method.localName) ?? new Set();
    if (!seen.has("ok") && !(method.localName in (excused.happy ?? {}))) missing.push(`${method.localName}: happy path`);
    if (!seen.has("error") && !(method.localName in (excused.error ?? {}))) missing.push(`${method.localName}: error path`);
  }
  return missing;
}

export class RpcFailure extends Error {
  constructor(readonly info: ErrorInfo) {
    super(`${ErrorCode[info.code]}: ${info.message}`);
  }
  get code(): string {
    return ErrorCode[this.info.code];
  }
}

type Waiter = { match: (frame: Frame) => boolean; resolve: (frame: Frame) => void };

/** How this client answers one ClientService rpc; throw an RpcFailure to answer with an error. */
// biome-ignore lint/suspicious/noExplicitAny: one handler type for every client rpc
type ClientHandler = (request: any) => unknown;

/** One sidecar process spoken to in raw frames. */
export class SidecarUnderTest {
  readonly frames: Frame[] = [];
  stderr = "";
  private waiters: Waiter[] = [];
  private readonly streamItems = new Map<number, (payload: Uint8Array) => void>();
  private nextId = 1;
  private readonly clientHandlers = new Map<string, { method: MethodDescriptor; handler: ClientHandler }>();
  /** Sidecar→client calls this client answered, in order of arrival. */
  readonly clientCalls: { method: string; request: unknown }[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcessWithoutNullStreams) {
    const decoder = new FrameDecoder({
      onFrame: (frame) => this.onFrame(frame),
      onFault: (fault) => {
        throw new Error(`the sidecar sent a malformed frame: ${fault.message}`);
      },
    });
    child.stdout.on("data", (chunk: Buffer) => decoder.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => {
      this.stderr += chunk;
    });
    child.stdin.on("error", () => {});
    this.exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
    // This suite's ClientService.Ping: answers "pong:<nonce>", and refuses the nonce "fail".
    this.serveClient(methods.ping, (request) => {
      if (request.nonce === "fail") {
        throw new RpcFailure({ code: ErrorCode.FAILED_PRECONDITION, errno: "", message: "this client refuses the nonce fail", limit: "" });
      }
      return { nonce: `pong:${request.nonce}` };
    });
  }

  /**
   * Implements a ClientService rpc: every call the sidecar makes is answered
   * with what the handler returns (or throws, as an RpcFailure). Without a
   * handler, calls are left unanswered in `frames` (see `next`).
   */
  serveClient<Req, Res>(
    method: MethodDescriptor<Req, Res, "unary">,
    handler: ((request: Req) => Partial<Res> | Promise<Partial<Res>>) | undefined,
  ): void {
    if (handler) this.clientHandlers.set(method.fullName, { method: method as MethodDescriptor, handler });
    else this.clientHandlers.delete(method.fullName);
  }

  static start(extraEnv: Record<string, string> = {}): SidecarUnderTest {
    const child = spawn("sh", ["-c", `exec ${SIDECAR_COMMAND}`], { env: { ...process.env, ...extraEnv }, stdio: ["pipe", "pipe", "pipe"] });
    return new SidecarUnderTest(child);
  }

  /** Starts a sidecar and completes the handshake. */
  static async open(): Promise<SidecarUnderTest> {
    const sidecar = SidecarUnderTest.start();
    const answer = await sidecar.hello(PROTOCOL_VERSION, SCHEMA_HASH);
    if (answer.kind?.$case !== "helloAccepted") throw new Error(`hello was not accepted: ${JSON.stringify(answer)}`);
    return sidecar;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  sendFrame(frame: Frame): void {
    this.child.stdin.write(encodeFrame(frame));
  }

  sendBytes(bytes: Uint8Array): void {
    this.child.stdin.write(bytes);
  }

  hello(version: string, schemaHash: string): Promise<Frame> {
    this.sendFrame({ kind: { $case: "hello", value: { version, schemaHash, peer: "agentos-conformance" } } });
    return this.next((f) => f.kind?.$case === "helloAccepted" || f.kind?.$case === "helloRejected");
  }

  allocateId(): number {
    return this.nextId++;
  }

  /** The next frame (already received or still to come) that matches. */
  next(match: (frame: Frame) => boolean, timeoutMs = 30_000): Promise<Frame> {
    const index = this.frames.findIndex(match);
    if (index >= 0) return Promise.resolve(this.frames.splice(index, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { match, resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        if (!this.waiters.includes(waiter)) return;
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching frame within ${timeoutMs} ms; stderr: ${this.stderr.slice(-500)}`));
      }, timeoutMs).unref();
    });
  }

  /** Sends a request with the given id and payload as-is. */
  sendRequest(id: number, method: string, payload: Uint8Array): void {
    this.sendFrame({ kind: { $case: "request", value: { id, method, payload } } });
  }

  response(id: number): Promise<Frame> {
    return this.next((f) => f.kind?.$case === "response" && f.kind.value.id === id);
  }

  protocolError(id?: number): Promise<ErrorInfo> {
    return this.next((f) => f.kind?.$case === "protocolError" && (id === undefined || f.kind.value.id === id)).then((f) =>
      f.kind?.$case === "protocolError" ? (f.kind.value.error as ErrorInfo) : (undefined as never),
    );
  }

  /** A unary call; rejects with RpcFailure on an error response. Records coverage. */
  async call<Req, Res>(method: MethodDescriptor<Req, Res, "unary">, request: Partial<Req>): Promise<Res> {
    const id = this.allocateId();
    this.sendRequest(id, method.fullName, method.request.encode(method.request.fromPartial(request as never)).finish());
    const frame = await this.response(id);
    return this.settle(method, frame, (payload) => method.response.decode(payload));
  }

  /** Starts a server-streaming call; items and the end are collected. */
  stream<Req, Item>(method: MethodDescriptor<Req, Item, "server_streaming">, request: Partial<Req>) {
    const id = this.allocateId();
    const items: Item[] = [];
    const order: string[] = [];
    this.sendRequest(id, method.fullName, method.request.encode(method.request.fromPartial(request as never)).finish());
    this.streamItems.set(id, (payload) => {
      items.push(method.response.decode(payload));
      order.push("item");
    });
    const done = this.response(id).then((frame) => {
      this.streamItems.delete(id);
      order.push("end");
      return this.settle(method, frame, () => items);
    });
    return { id, items, order, done, cancel: () => this.sendFrame({ kind: { $case: "cancel", value: { id } } }) };
  }

  /** Closes stdin (EOF) and waits for the exit. */
  async end() {
    this.child.stdin.end();
    return this.exited;
  }

  /** Child processes of the sidecar, from the OS. */
  helpers(): number[] {
    return childPids(this.pid);
  }

  private settle<T>(method: MethodDescriptor, frame: Frame, decode: (payload: Uint8Array) => T): T {
    const result = frame.kind?.$case === "response" ? frame.kind.value.result : undefined;
    const outcomes = coverage.get(method.localName) ?? new Set<Outcome>();
    coverage.set(method.localName, outcomes);
    if (result?.$case === "error") {
      outcomes.add("error");
      throw new RpcFailure(result.value);
    }
    if (result?.$case !== "payload") throw new Error(`response without payload or error: ${JSON.stringify(frame)}`);
    outcomes.add("ok");
    return decode(result.value);
  }

  private answerClientCall(id: number, method: MethodDescriptor, handler: ClientHandler, payload: Uint8Array): void {
    const request = method.request.decode(payload);
    this.clientCalls.push({ method: method.localName, request });
    clientCoverage.add(method.localName);
    Promise.resolve()
      .then(() => handler(request))
      .then(
        (answer) => ({
          $case: "payload" as const,
          value: method.response.encode(method.response.fromPartial(answer as never)).finish(),
        }),
        (error: unknown) => ({
          $case: "error" as const,
          value:
            error instanceof RpcFailure
              ? error.info
              : { code: ErrorCode.INTERNAL, errno: "", message: `client handler failed: ${(error as Error)?.message}`, limit: "" },
        }),
      )
      .then((result) => this.sendFrame({ kind: { $case: "response", value: { id, result } } }));
  }

  private onFrame(frame: Frame): void {
    // Sidecar-originated calls (negative ids), answered by the registered client handlers.
    if (frame.kind?.$case === "request" && frame.kind.value.id < 0) {
      const served = this.clientHandlers.get(frame.kind.value.method);
      if (served) {
        this.answerClientCall(frame.kind.value.id, served.method, served.handler, frame.kind.value.payload);
        return;
      }
    }
    if (frame.kind?.$case === "streamItem") {
      const listener = this.streamItems.get(frame.kind.value.id);
      if (listener) {
        listener(frame.kind.value.payload);
        return;
      }
    }
    const waiter = this.waiters.find((w) => w.match(frame));
    if (waiter) {
      this.waiters = this.waiters.filter((w) => w !== waiter);
      waiter.resolve(frame);
    } else {
      this.frames.push(frame);
    }
  }
}

/** The direct child processes of `pid`, from the OS. */
export function childPids(pid: number): number[] {
  try {
    return execFileSync("pgrep", ["-P", String(pid)])
      .toString()
      .trim()
      .split("\n")
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

export const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export async function waitGone(pids: number[], ms = 10_000): Promise<number[]> {
  const until = Date.now() + ms;
  while (pids.some(isAlive) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  return pids.filter(isAlive);
}
