import { type CreateVmConfig, RpcError } from "@agentos/proto";
import { notFound } from "./errors.js";
import type { ToolOutcome } from "./vm/host-tools.js";
import { Vm } from "./vm/vm.js";

/** Runs a host tool of VM `vmId` in the client. */
export type ClientToolCaller = (
  vmId: string,
  toolkit: string,
  tool: string,
  inputJson: string,
  options: { signal: AbortSignal },
) => Promise<ToolOutcome>;

/** VMs one sidecar holds at once unless configured otherwise. */
export const DEFAULT_MAX_VMS = 64;

/** Disposed VM ids remembered so late calls get VM_DISPOSED rather than NOT_FOUND. */
const DISPOSED_IDS_KEPT = 10_000;

/** The VMs this sidecar owns, by id. */
export class VmRegistry {
  private readonly vms = new Map<string, Vm>();
  private readonly disposedIds = new Set<string>();
  private counter = 0;
  private creating = 0;

  constructor(private readonly options: { maxVms?: number; callTool?: ClientToolCaller } = {}) {}

  get maxVms(): number {
    return this.options.maxVms ?? DEFAULT_MAX_VMS;
  }

  get size(): number {
    return this.vms.size;
  }

  async create(config: CreateVmConfig): Promise<Vm> {
    if (this.vms.size + this.creating >= this.maxVms) {
      throw new RpcError(
        "RESOURCE_EXHAUSTED",
        `this sidecar already holds ${this.maxVms} VMs (its limit); dispose one or start another sidecar`,
        {
          limit: "max_vms",
        },
      );
    }
    const id = `vm-${++this.counter}`;
    const callTool = this.options.callTool;
    this.creating++;
    try {
      const vm = await Vm.create(id, config, {
        callTool: callTool ? (toolkit, tool, inputJson, options) => callTool(id, toolkit, tool, inputJson, options) : undefined,
      });
      this.vms.set(id, vm);
      return vm;
    } finally {
      this.creating--;
    }
  }

  get(id: string): Vm {
    const vm = this.vms.get(id);
    if (vm) return vm;
    if (this.disposedIds.has(id)) {
      throw new RpcError("VM_DISPOSED", `VM ${id} has been disposed; create a new one with AgentOs.create()`);
    }
    throw notFound(`no VM with id "${id}" in this sidecar`);
  }

  /** Idempotent for a VM already disposed. */
  async dispose(id: string): Promise<void> {
    if (this.disposedIds.has(id)) return;
    const vm = this.get(id);
    this.vms.delete(id);
    this.disposedIds.add(id);
    if (this.disposedIds.size > DISPOSED_IDS_KEPT) {
      this.disposedIds.delete(this.disposedIds.values().next().value as string);
    }
    await vm.dispose();
  }

  async disposeAll(): Promise<void> {
    await Promise.all([...this.vms.keys()].map((id) => this.dispose(id)));
  }
}
