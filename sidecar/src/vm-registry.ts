import { type CreateVmConfig, RpcError } from "@agentos/proto";
import { notFound } from "./errors.js";
import { Vm } from "./vm/vm.js";

/** Disposed VM ids remembered so late calls get VM_DISPOSED rather than NOT_FOUND. */
const DISPOSED_IDS_KEPT = 10_000;

/** The VMs this sidecar owns, by id. */
export class VmRegistry {
  private readonly vms = new Map<string, Vm>();
  private readonly disposedIds = new Set<string>();
  private counter = 0;

  get size(): number {
    return this.vms.size;
  }

  async create(config: CreateVmConfig): Promise<Vm> {
    const id = `vm-${++this.counter}`;
    const vm = await Vm.create(id, config);
    this.vms.set(id, vm);
    return vm;
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
