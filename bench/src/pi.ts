// The Pi agent outside any VM, for the raw side of the session benchmarks: the same adapter the VM runs
// (agents/pi/dist/adapter.mjs), started as a plain child process of this one and driven over ACP on its stdio,
// the way the sidecar drives it inside a VM (sidecar/src/acp/session.ts).
import { type ChildProcess, spawn } from "node:child_process";
import { Readable, Writable } from "node:stream";
import * as acp from "@agentclientprotocol/sdk";
import pi from "@agentos/agent-pi";

/** A VM path of the descriptor (entry script, PI_PACKAGE_DIR) as the host folder it is projected from. */
function hostPath(vmPath: string): string {
  for (const root of pi.agent.packageRoots) {
    if (vmPath === root.vmPath || vmPath.startsWith(`${root.vmPath}/`)) return root.hostPath + vmPath.slice(root.vmPath.length);
  }
  return vmPath;
}

export interface HostPiSession {
  readonly pid: number;
  readonly sessionId: string;
  /** session/prompt; resolves with the stop reason once the turn has ended. */
  prompt(text: string): Promise<string>;
  /** Ends the adapter process, like the sidecar's closeSession. */
  close(): Promise<void>;
}

/**
 * Spawns the adapter on the host and runs initialize + session/new, the work `createSession` does in a VM.
 * `env` is the session env (model URL, key, permission mode); HOME and cwd are a host folder.
 */
export async function startHostPi(options: { cwd: string; home: string; env: Record<string, string> }): Promise<HostPiSession> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: options.home };
  for (const [key, value] of Object.entries(pi.agent.env)) env[key] = hostPath(value);
  Object.assign(env, options.env);
  const child = spawn(process.execPath, [hostPath(pi.agent.entry), ...pi.agent.args], {
    cwd: options.cwd,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4096);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const failure = new Promise<never>((_, reject) => {
    child.once("error", reject);
    void exited.then(() => reject(new Error(`the host Pi adapter exited: ${stderr.trim()}`)));
  });
  failure.catch(() => {});
  const stdin = child.stdin as NonNullable<ChildProcess["stdin"]>;
  const stdout = child.stdout as NonNullable<ChildProcess["stdout"]>;
  const connection = acp
    .client({ name: "agentos-bench" })
    .onNotification(acp.methods.client.session.update, () => {})
    .onRequest(acp.methods.client.session.requestPermission, ({ params }) => {
      // bypassPermissions means none are asked; allow anyway so a change there cannot hang the bench.
      const allow = params.options.find((o) => o.kind === "allow_once" || o.kind === "allow_always");
      return allow
        ? { outcome: { outcome: "selected" as const, optionId: allow.optionId } }
        : { outcome: { outcome: "cancelled" as const } };
    })
    .connect(
      acp.ndJsonStream(
        Writable.toWeb(stdin) as WritableStream<Uint8Array>,
        Readable.toWeb(stdout) as unknown as ReadableStream<Uint8Array>,
      ),
    );
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  };
  try {
    await Promise.race([
      connection.agent.request(acp.methods.agent.initialize, { protocolVersion: acp.PROTOCOL_VERSION, clientCapabilities: {} }),
      failure,
    ]);
    const created = await Promise.race([
      connection.agent.request(acp.methods.agent.session.new, { cwd: options.cwd, mcpServers: [] }),
      failure,
    ]);
    const sessionId = created.sessionId;
    return {
      pid: child.pid ?? -1,
      sessionId,
      async prompt(text) {
        const result = await Promise.race([
          connection.agent.request(acp.methods.agent.session.prompt, { sessionId, prompt: [{ type: "text", text }] }),
          failure,
        ]);
        return result.stopReason;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
