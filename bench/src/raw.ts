// Raw secure-exec in this process: a kernel built the way the sidecar builds a VM (sidecar/src/vm/vm.ts),
// so the client side's extra cost is only the client, the wire and the sidecar's own bookkeeping.
import common from "@rivet-dev/agent-os-common";
import { createWasmVmRuntime } from "@rivet-dev/agent-os-posix";
import { allowAll, createInMemoryFileSystem, createKernel, type Kernel } from "@secure-exec/core";
import { createNodeHostNetworkAdapter, createNodeRuntime } from "@secure-exec/nodejs";

const HOME = "/home/user";
const commandDirs = common.map((pkg) => pkg.commandDir);

export async function createRawVm(): Promise<Kernel> {
  const kernel = createKernel({
    filesystem: createInMemoryFileSystem(),
    permissions: allowAll,
    hostNetworkAdapter: createNodeHostNetworkAdapter(),
    cwd: HOME,
    env: { HOME, PATH: "/usr/local/bin:/usr/bin:/bin" },
  });
  await kernel.mount(createWasmVmRuntime({ commandDirs }));
  await kernel.mount(createNodeRuntime({ memoryLimit: 128 }));
  // The sidecar also creates the home folder and the shell's history file at boot; do the same
  // so both sides pay for the same boot work.
  if (!(await kernel.exists(HOME))) await kernel.mkdir(HOME);
  await kernel.writeFile(`${HOME}/.brush_history`, new Uint8Array());
  return kernel;
}
