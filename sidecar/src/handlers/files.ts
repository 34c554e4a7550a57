import { type FileStat, RpcError, toErrorInfo } from "@agentos/proto";
import type { VirtualStat } from "@secure-exec/core";
import type { FilesystemServiceHandler } from "../generated/handlers.js";
import type { VmRegistry } from "../vm-registry.js";

export function createFilesystemHandlers(registry: VmRegistry): FilesystemServiceHandler {
  return {
    async readFile(request) {
      return { content: await registry.get(request.vmId).fs.readFile(request.path) };
    },
    async writeFile(request) {
      await registry.get(request.vmId).fs.writeFile(request.path, request.content);
      return {};
    },
    async readFiles(request) {
      const fs = registry.get(request.vmId).fs;
      const results = [];
      for (const path of request.paths) {
        try {
          results.push({ path, content: await fs.readFile(path), error: undefined });
        } catch (error) {
          results.push({ path, content: undefined, error: toErrorInfo(error) });
        }
      }
      return { results };
    },
    async writeFiles(request) {
      const fs = registry.get(request.vmId).fs;
      const results = [];
      for (const file of request.files) {
        try {
          await fs.writeFileWithParents(file.path, file.content);
          results.push({ path: file.path, success: true, error: undefined });
        } catch (error) {
          results.push({ path: file.path, success: false, error: toErrorInfo(error) });
        }
      }
      return { results };
    },
    async mkdir(request) {
      await registry.get(request.vmId).fs.mkdir(request.path, request.recursive);
      return {};
    },
    async readdir(request) {
      return { names: await registry.get(request.vmId).fs.readdir(request.path) };
    },
    async readdirRecursive(request) {
      const entries = await registry.get(request.vmId).fs.readdirRecursive(request.path, request.maxDepth, request.exclude);
      return { entries };
    },
    async stat(request) {
      return { stat: wireStat(await registry.get(request.vmId).fs.stat(request.path)) };
    },
    async exists(request) {
      return { exists: await registry.get(request.vmId).fs.exists(request.path) };
    },
    async move(request) {
      await registry.get(request.vmId).fs.move(request.from, request.to);
      return {};
    },
    async delete(request) {
      await registry.get(request.vmId).fs.delete(request.path, request.recursive);
      return {};
    },
    mountFs(request) {
      if (!request.mount) throw new RpcError("INVALID_ARGUMENT", "mount is missing");
      registry.get(request.vmId).fs.mount(request.mount);
      return {};
    },
    unmountFs(request) {
      registry.get(request.vmId).fs.unmount(request.path);
      return {};
    },
    snapshotRootFilesystem(request) {
      registry.get(request.vmId);
      throw new RpcError("UNIMPLEMENTED", "snapshotRootFilesystem needs the layered root filesystem, which this sidecar does not have yet");
    },
  };
}

function wireStat(stat: VirtualStat): FileStat {
  return {
    mode: stat.mode,
    size: stat.size,
    isDirectory: stat.isDirectory,
    isSymbolicLink: stat.isSymbolicLink,
    atimeMs: stat.atimeMs,
    mtimeMs: stat.mtimeMs,
    ctimeMs: stat.ctimeMs,
    birthtimeMs: stat.birthtimeMs,
    ino: stat.ino,
    nlink: stat.nlink,
    uid: stat.uid,
    gid: stat.gid,
  };
}
