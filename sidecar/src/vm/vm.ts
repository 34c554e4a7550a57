import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, type Stats } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import type { CreateVmConfig } from "@agentos/proto";
import { PermissionEffect, RpcError } from "@agentos/proto";
import { createWasmVmRuntime } from "@rivet-dev/agent-os-posix";
import {
  allowAllChildProcess,
  allowAllEnv,
  allowAllFs,
  createInMemoryFileSystem,
  createKernel,
  type FsMount,
  type Kernel,
  KernelError,
  type KernelRuntimeDriver,
  type NetworkAccessRequest,
  type Permissions,
} from "@secure-exec/core";
import { createNodeHostNetworkAdapter, createNodeRuntime } from "@secure-exec/nodejs";
import { baseEnvironment, HOME } from "./base-environment.js";
import { answerNextLookup } from "./dns-overrides.js";
import { VmFilesystem } from "./filesystem.js";
import { withByteQuota } from "./filesystem-quota.js";
import { withGuestEnv } from "./guest-env.js";
import { fetchFromGuest, type GuestRequest, type GuestResponse } from "./guest-fetch.js";
import { createPolicyNetworkAdapter, GuestPorts } from "./host-network.js";
import { type CallTool, HostTools } from "./host-tools.js";
import { withBoundedKernelBuffers } from "./kernel-buffers.js";
import { kernelSystemVfs, kernelVfs, limitOpenFiles, limitSockets, withOpenFileLimit } from "./kernel-internals.js";
import { type ResolvedLimits, resolveLimits } from "./limits.js";
import { resolveMount } from "./mounts.js";
import { NetworkPolicy } from "./network-policy.js";
import { withScriptPathsFromCwd } from "./node-script-paths.js";
import { PermissionPolicyEngine } from "./permissions.js";
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
  emptyModulesCwd ??= emptyModulesFolder();
  return emptyModulesCwd;
}

/**
 * One folder per user, reused by every sidecar (a folder per process would
 * be left behind by every sidecar that is killed). Used only if it is ours
 * and holds nothing but an empty node_modules; otherwise a private one.
 */
function emptyModulesFolder(): string {
  const uid = process.getuid?.() ?? 0;
  const shared = join(tmpdir(), `agentos-no-modules-${uid}`);
  try {
    mkdirSync(join(shared, "node_modules"), { recursive: true, mode: 0o700 });
    const folder = lstatSync(shared);
    const modules = lstatSync(join(shared, "node_modules"));
    const ours = (stat: Stats) => stat.isDirectory() && !stat.isSymbolicLink() && (process.getuid === undefined || stat.uid === uid);
    if (ours(folder) && ours(modules) && readdirSync(shared).length === 1 && readdirSync(join(shared, "node_modules")).length === 0) {
      return shared;
    }
  } catch {
    // Fall through to a private folder.
  }
  const dir = mkdtempSync(join(tmpdir(), "agentos-no-modules-"));
  mkdirSync(join(dir, "node_modules"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
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
    /** The fs, childProcess, env and tool scopes of the permission policy. */
    readonly permissions: PermissionPolicyEngine,
    /** The host toolkits (commands agentos-<kit>). */
    readonly tools: HostTools,
  ) {
    this.fs = new VmFilesystem(kernel, (path) => permissions.checkTreeWrite(path));
    this.processes = new ProcessRegistry(kernel, limits, runTime);
    this.shells = new ShellRegistry(kernel, limits.maxOutputBytes, runTime);
  }

  /** `callTool` runs host tools (in the client); without it tool commands fail. */
  static async create(id: string, config: CreateVmConfig, options: { callTool?: CallTool } = {}): Promise<Vm> {
    const limits = resolveLimits(config.limits);
    const commandDirs = resolveCommandDirs(config.software);
    const packageRoots = resolvePackageRoots(config.software);
    const agents = resolveAgents(config.software, packageRoots);
    const mounts: FsMount[] = config.mounts.map((m, i) => resolveMount(m, `mounts[${i}]`));
    const networkDefault = config.permissions?.defaults?.network;
    const policy = NetworkPolicy.fromConfig({
      rules: config.permissions?.network,
      allow: config.network?.allow,
      loopbackExemptPorts: config.loopbackExemptPorts,
      defaultAllow: networkDefault === PermissionEffect.ALLOW ? true : networkDefault === PermissionEffect.DENY ? false : undefined,
      dnsOverrides: config.network?.dnsOverrides,
    });
    const permissions = PermissionPolicyEngine.fromConfig(config.permissions);
    const tools = new HostTools(config.toolKits, permissions, options.callTool);
    const ports = new GuestPorts();
    const base = baseEnvironment();
    const baseNames = new Set(Object.keys(base));
    const env = permissions.filterEnv({ ...base, ...config.env }, baseNames);
    const home = env.HOME || HOME;
    const root = withByteQuota(createInMemoryFileSystem(), limits.maxFilesystemBytes);
    const kernel = createKernel({
      filesystem: root,
      // The kernel's hook sees host names only; exact host:port decisions
      // are made by the policy adapter every external connection goes through.
      permissions: {
        fs: (request) => permissions.checkFs(request),
        childProcess: (request) => permissions.decideCommand(request.command),
        // Not consulted by the kernel: env is filtered per process (withGuestEnv).
        ...allowAllEnv,
        network: (request: NetworkAccessRequest) => networkHook(policy, request, false),
      },
      hostNetworkAdapter: createPolicyNetworkAdapter(createNodeHostNetworkAdapter(), policy, ports),
      env,
      cwd: HOME,
      maxProcesses: limits.maxProcesses,
      mounts,
    });
    limitSockets(kernel, limits.maxSockets);
    limitOpenFiles(kernel, limits.maxOpenFiles);
    guardLinks(kernel, permissions);
    const runTime = new RunTimeLimit(kernel, limits.cpuTimeMs);
    const guestEnv = (vars: Record<string, string>) => permissions.filterEnv(vars, baseNames);
    const runtimePermissions: Permissions = {
      // Files and processes go through the kernel, which applies the policy.
      ...allowAllFs,
      ...allowAllChildProcess,
      ...allowAllEnv,
      network: (request) => networkHook(policy, request, true),
    };
    try {
      // Outermost first: bounded kernel buffers, the env scope, fd caps, script paths.
      const guest = (driver: KernelRuntimeDriver) => withBoundedKernelBuffers(withGuestEnv(driver, guestEnv), limits.maxOutputBytes);
      await kernel.mount(guest(createWasmVmRuntime({ commandDirs })));
      await kernel.mount(
        guest(
          withOpenFileLimit(
            withScriptPathsFromCwd(
              createNodeRuntime({
                memoryLimit: limits.memoryMib,
                // The runtime checks its own network calls (dns.lookup, fetch,
                // http) against these, not the kernel's; without them it
                // allows everything (a guest could resolve any name).
                permissions: runtimePermissions,
                moduleAccessCwd: config.moduleAccessCwd || noHostModules(),
                packageRoots: packageRoots.map((r) => ({ hostPath: r.hostPath, vmPath: r.vmPath })),
              }),
            ),
            limits.maxOpenFiles,
          ),
        ),
      );
      await kernel.mount(tools.driver());
      // After the runtimes are mounted the kernel's POSIX directories exist.
      await kernelVfs(kernel).mkdir(home, { recursive: true });
      // The interactive WebAssembly shell loops forever on warnings when its
      // history file is missing (@rivet-dev/agent-os-posix 0.1.0); give it one.
      await kernelVfs(kernel).writeFile(`${home === "/" ? "" : home}/.brush_history`, new Uint8Array());
      // The VM's own files are not the guest's: the quota counts from here.
      await root.startCounting();
    } catch (error) {
      await kernel.dispose().catch(() => {});
      throw new RpcError("INTERNAL", `cannot boot the VM: ${(error as Error).message}`, { cause: error });
    }
    runTime.start();
    return new Vm(id, limits, kernel, ports, runTime, agents, home, permissions, tools);
  }

  /** Writes a file of the OS itself (under /etc/agentos), past the guest's policy. */
  async writeSystemFile(path: string, content: Uint8Array): Promise<void> {
    const vfs = kernelSystemVfs(this.kernel);
    await vfs.mkdir(posix.dirname(path), { recursive: true });
    await vfs.writeFile(path, content);
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

/** Entries a rename of a folder may hold for its links to be checked; a larger folder cannot be renamed. */
const RENAME_CHECK_MAX_ENTRIES = 10_000;

/**
 * The kernel's fs hook sees only the link's own path, and a rename only as
 * two paths; a link must not become a second name for a path the policy
 * restricts, at creation or after it is moved (a relative link means
 * something else in another folder).
 */
function guardLinks(kernel: Kernel, permissions: PermissionPolicyEngine): void {
  const vfs = kernelVfs(kernel);
  const system = kernelSystemVfs(kernel);
  const symlink = vfs.symlink.bind(vfs);
  const link = vfs.link.bind(vfs);
  const rename = vfs.rename.bind(vfs);
  const refuse = (linkPath: string, reason: string | undefined): never => {
    throw new KernelError("EACCES", `permission denied, link '${linkPath}': ${reason}`);
  };
  // Only relative links change meaning when moved; until the guest makes
  // one, a rename has nothing below it to check.
  let relativeLinks = 0;
  vfs.symlink = async (target, linkPath) => {
    const decision = permissions.checkLink(target, linkPath);
    if (!decision.allow) refuse(linkPath, decision.reason);
    await symlink(target, linkPath);
    if (!target.startsWith("/")) relativeLinks++;
  };
  vfs.link = async (oldPath, newPath) => {
    const decision = permissions.checkLink(posix.resolve("/", oldPath), newPath);
    if (!decision.allow) refuse(newPath, decision.reason);
    return link(oldPath, newPath);
  };
  vfs.rename = async (oldPath, newPath) => {
    const from = posix.resolve("/", oldPath);
    const to = posix.resolve("/", newPath);
    // Relative links below what moves are checked at their new place.
    let budget = RENAME_CHECK_MAX_ENTRIES;
    const check = async (path: string, movedTo: string): Promise<void> => {
      if (--budget < 0) {
        throw new KernelError("EACCES", `permission denied, rename '${from}': more than ${RENAME_CHECK_MAX_ENTRIES} entries to check`);
      }
      const stat = await system.lstat(path).catch(() => undefined);
      if (stat?.isSymbolicLink) {
        const target = await system.readlink(path);
        if (!target.startsWith("/")) {
          const decision = permissions.checkLink(target, movedTo);
          if (!decision.allow) refuse(movedTo, decision.reason);
        }
      } else if (stat?.isDirectory) {
        for (const name of await system.readDir(path)) {
          if (name === "." || name === "..") continue;
          await check(posix.join(path, name), posix.join(movedTo, name));
        }
      }
    };
    if (relativeLinks > 0) await check(from, to);
    return rename(oldPath, newPath);
  };
}

/**
 * The network permission hook of the kernel and of the Node runtime. It
 * sees a host name (no port) for sockets and DNS, and a URL for the
 * runtime's fetch/http (whose connections then pass the policy adapter,
 * which checks host:port). `hostLookups`: the caller resolves allowed names
 * with the host's resolver right after asking (the Node runtime), so a DNS
 * override is announced to it (dns-overrides.ts); the kernel's own lookups
 * go to the policy adapter, which answers overrides itself.
 */
function networkHook(policy: NetworkPolicy, request: NetworkAccessRequest, hostLookups: boolean): { allow: boolean; reason?: string } {
  let host = request.hostname;
  let port: number | undefined;
  if (host === undefined && request.url) {
    try {
      const url = new URL(request.url);
      host = url.hostname.replace(/^\[|\]$/g, "");
      port = Number(url.port || (url.protocol === "https:" ? 443 : url.protocol === "http:" ? 80 : Number.NaN));
      if (!Number.isInteger(port)) port = undefined;
    } catch {
      return { allow: false, reason: `cannot parse URL ${request.url}` };
    }
  }
  if (host === undefined) return { allow: true };
  const op = asOp(request.op);
  const decision = policy.decide(op, host, port);
  const override = hostLookups && decision.allow && op === "dns" ? policy.override(host) : undefined;
  if (override) answerNextLookup(host, override);
  return decision;
}

function asOp(op: NetworkAccessRequest["op"]): "connect" | "listen" | "dns" {
  if (op === "listen") return "listen";
  if (op === "dns") return "dns";
  return "connect";
}
