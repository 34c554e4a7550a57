import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CreateVmConfig } from "@agentos/proto";
import { RpcError } from "@agentos/proto";
import { createWasmVmRuntime } from "@rivet-dev/agent-os-posix";
import {
  allowAllChildProcess,
  allowAllEnv,
  allowAllFs,
  createInMemoryFileSystem,
  createKernel,
  type FsMount,
  type Kernel,
  type NetworkAccessRequest,
} from "@secure-exec/core";
import { createNodeHostNetworkAdapter, createNodeRuntime } from "@secure-exec/nodejs";
import { baseEnvironment, HOME } from "./base-environment.js";
import { VmFilesystem } from "./filesystem.js";
import { withByteQuota } from "./filesystem-quota.js";
import { fetchFromGuest, type GuestRequest, type GuestResponse } from "./guest-fetch.js";
import { createPolicyNetworkAdapter, GuestPorts } from "./host-network.js";
import { kernelVfs } from "./kernel-internals.js";
import { type ResolvedLimits, resolveLimits } from "./limits.js";
import { resolveMount } from "./mounts.js";
import { NetworkPolicy } from "./network-policy.js";
import { withScriptPathsFromCwd } from "./node-script-paths.js";
import { ProcessRegistry } from "./processes.js";
import { RunTimeLimit } from "./run-time-limit.js";
import { ShellRegistry } from "./shells.js";
import { type AgentInstall, resolveAgents, resolveCommandDirs, resolvePackageRoots } from "./software.js";

/**
 * The Node runtime projects `<moduleAccessCwd>/node_modules` into the VM.
 * Unless the config names a folder, point it at an empty folder of our own:
 * no host modules are visible. (It must have a node_modules folder: in
 * @secure-exec/nodejs 0.2.1 package roots are refused without one.)
 */
let emptyModulesCwd: string | undefined;
function noHostModules(): string {
  if (!emptyModulesCwd) {
    const dir = mkdtempSync(join(tmpdir(), "agentos-no-modules-"));
    mkdirSync(join(dir, "node_modules"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    emptyModulesCwd = dir;
  }
  return emptyModulesCwd;
}

/**
 * JavaScript processes at once across the whole sidecar. The shared V8
 * runtime of @secure-exec/nodejs 0.2.1 allows as many isolates as the host
 * has CPUs unless told otherwise, and a process past that waits forever
 * (on 2 cores: a third agent session, or `node` while two run, hangs). Each
 * VM's own maxProcesses still bounds it per VM; operators may set
 * SECURE_EXEC_V8_MAX_SESSIONS themselves.
 */
export const JS_PROCESSES_MAX = 256;
process.env.SECURE_EXEC_V8_MAX_SESSIONS ??= String(JS_PROCESSES_MAX);

/** A secure-exec kernel with the WebAssembly userland and the Node runtime. */
export class Vm {
  readonly fs: VmFilesystem;
  readonly processes: ProcessRegistry;
  readonly shells: ShellRegistry;
  private disposed: Promise<void> | undefined;

  private constructor(
    readonly id: string,
    readonly limits: ResolvedLimits,
    private readonly kernel: Kernel,
    private readonly ports: GuestPorts,
    private readonly runTime: RunTimeLimit,
    /** The agents the VM's software offers. */
    readonly agents: readonly AgentInstall[],
    /** The guest user's home: where processes start unless told otherwise. */
    readonly home: string,
  ) {
    this.fs = new VmFilesystem(kernel);
    this.processes = new ProcessRegistry(kernel, limits, runTime);
    this.shells = new ShellRegistry(kernel, limits.maxOutputBytes, runTime);
  }

  static async create(id: string, config: CreateVmConfig): Promise<Vm> {
    const limits = resolveLimits(config.limits);
    const commandDirs = resolveCommandDirs(config.software);
    const packageRoots = resolvePackageRoots(config.software);
    const agents = resolveAgents(config.software, packageRoots);
    const mounts: FsMount[] = config.mounts.map((m, i) => resolveMount(m, `mounts[${i}]`));
    const policy = NetworkPolicy.fromConfig({
      rules: config.permissions?.network,
      allow: config.network?.allow,
      loopbackExemptPorts: config.loopbackExemptPorts,
    });
    const ports = new GuestPorts();
    const env = { ...baseEnvironment(), ...config.env };
    const home = env.HOME || HOME;
    const kernel = createKernel({
      filesystem: withByteQuota(createInMemoryFileSystem(), limits.maxFilesystemBytes),
      // The kernel's hook sees host names only; exact host:port decisions
      // are made by the policy adapter every external connection goes through.
      permissions: {
        ...allowAllFs,
        ...allowAllChildProcess,
        ...allowAllEnv,
        network: (request: NetworkAccessRequest) =>
          request.hostname === undefined ? { allow: true } : policy.decide(asOp(request.op), request.hostname),
      },
      hostNetworkAdapter: createPolicyNetworkAdapter(createNodeHostNetworkAdapter(), policy, ports),
      env,
      cwd: HOME,
      maxProcesses: limits.maxProcesses,
      mounts,
    });
    const runTime = new RunTimeLimit(kernel, limits.cpuTimeMs);
    try {
      await kernel.mount(createWasmVmRuntime({ commandDirs }));
      await kernel.mount(
        withScriptPathsFromCwd(
          createNodeRuntime({
            memoryLimit: limits.memoryMib,
            moduleAccessCwd: config.moduleAccessCwd || noHostModules(),
            packageRoots: packageRoots.map((r) => ({ hostPath: r.hostPath, vmPath: r.vmPath })),
          }),
        ),
      );
      // After the runtimes are mounted the kernel's POSIX directories exist.
      await kernelVfs(kernel).mkdir(home, { recursive: true });
      // The interactive WebAssembly shell loops forever on warnings when its
      // history file is missing (@rivet-dev/agent-os-posix 0.1.0); give it one.
      await kernelVfs(kernel).writeFile(`${home === "/" ? "" : home}/.brush_history`, new Uint8Array());
    } catch (error) {
      await kernel.dispose().catch(() => {});
      throw new RpcError("INTERNAL", `cannot boot the VM: ${(error as Error).message}`, { cause: error });
    }
    runTime.start();
    return new Vm(id, limits, kernel, ports, runTime, agents, home);
  }

  fetch(request: GuestRequest): Promise<GuestResponse> {
    return fetchFromGuest(this.ports, request, {
      timeoutMs: this.limits.execTimeoutMs,
      maxBodyBytes: this.limits.maxOutputBytes,
    });
  }

  /** Every process in the kernel, whatever started it. */
  allProcesses() {
    return [...this.kernel.processes.values()];
  }

  /** Ends every process and shell, then the kernel. Idempotent. */
  dispose(): Promise<void> {
    this.disposed ??= (async () => {
      this.runTime.stop();
      this.shells.closeAll();
      this.processes.killAll();
      await this.kernel.dispose().catch(() => {});
    })();
    return this.disposed;
  }
}

function asOp(op: NetworkAccessRequest["op"]): "connect" | "listen" | "dns" {
  if (op === "listen") return "listen";
  if (op === "dns") return "dns";
  return "connect";
}
