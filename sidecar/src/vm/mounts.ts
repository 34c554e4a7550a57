import type { MountDescriptor } from "@agentos/proto";
import { RpcError } from "@agentos/proto";
import { createInMemoryFileSystem, type VirtualFileSystem } from "@secure-exec/core";
import { invalidArgument } from "../errors.js";
import { assertGuestPath } from "./paths.js";

/** Mount plugins this sidecar knows; each turns its config into a filesystem. */
const PLUGINS: Record<string, ((config: Record<string, unknown>) => VirtualFileSystem) | "later"> = {
  memory: () => createInMemoryFileSystem(),
  host_dir: "later",
  s3: "later",
};

export interface ResolvedMount {
  path: string;
  fs: VirtualFileSystem;
  readOnly: boolean;
}

export function resolveMount(mount: MountDescriptor, where: string): ResolvedMount {
  const path = assertGuestPath(mount.path, `${where}.path`);
  if (path === "/") throw invalidArgument(`${where}.path is "/"; the root filesystem cannot be replaced by a mount`);
  const plugin = PLUGINS[mount.pluginId];
  if (plugin === undefined) {
    throw invalidArgument(
      `${where}.plugin.id "${mount.pluginId}" is not a known mount plugin; known plugins: ${Object.keys(PLUGINS).join(", ")}`,
    );
  }
  if (plugin === "later") {
    throw new RpcError("UNIMPLEMENTED", `${where}: the "${mount.pluginId}" mount plugin is not available in this sidecar yet; "memory" is`);
  }
  let config: Record<string, unknown> = {};
  if (mount.configJson) {
    try {
      const parsed: unknown = JSON.parse(mount.configJson);
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
      config = parsed as Record<string, unknown>;
    } catch (error) {
      throw invalidArgument(`${where}.plugin.config must be a JSON object: ${(error as Error).message}`);
    }
  }
  return { path, fs: plugin(config), readOnly: mount.readOnly };
}
