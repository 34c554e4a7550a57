import { posix } from "node:path";
import type { MountDescriptor } from "@agentos/proto";
import type { Kernel, PermissionDecision, VirtualFileSystem, VirtualStat } from "@secure-exec/core";
import { fromGuestError, posixError } from "../errors.js";
import { kernelVfs } from "./kernel-internals.js";
import { type ResolvedMount, resolveMount } from "./mounts.js";
import { assertGuestPath, childPath } from "./paths.js";

export interface DirEntryInfo {
  path: string;
  type: "file" | "directory" | "symlink";
  size: number;
}

/** The VM's filesystem as the guest sees it (mounts included), with typed errors. */
export class VmFilesystem {
  private readonly vfs: VirtualFileSystem;

  constructor(
    private readonly kernel: Kernel,
    /** The policy's verdict on changing a whole tree (checked before a multi-step change starts). */
    private readonly mayChangeTree: (path: string) => PermissionDecision = () => ({ allow: true }),
  ) {
    this.vfs = kernelVfs(kernel);
  }

  async readFile(path: string): Promise<Uint8Array> {
    assertGuestPath(path);
    return this.guard(`read ${path}`, () => this.kernel.readFile(path));
  }

  async writeFile(path: string, content: Uint8Array): Promise<void> {
    assertGuestPath(path);
    await this.guard(`write ${path}`, () => this.kernel.writeFile(path, content));
  }

  /** Writes a file, creating missing parent directories first. */
  async writeFileWithParents(path: string, content: Uint8Array): Promise<void> {
    assertGuestPath(path);
    await this.mkdir(posix.dirname(path), true);
    await this.writeFile(path, content);
  }

  async mkdir(path: string, recursive: boolean): Promise<void> {
    assertGuestPath(path);
    if (!recursive) {
      await this.guard(`create directory ${path}`, () => this.kernel.mkdir(path));
      return;
    }
    let current = "";
    for (const part of path.split("/").filter(Boolean)) {
      current += `/${part}`;
      const at = current;
      const stat = await this.lstatOrUndefined(at);
      if (stat?.isDirectory) continue;
      if (stat && !stat.isSymbolicLink) {
        throw posixError("ENOTDIR", `create directory ${path}`);
      }
      if (!stat) await this.guard(`create directory ${at}`, () => this.kernel.mkdir(at));
    }
  }

  async readdir(path: string): Promise<string[]> {
    assertGuestPath(path);
    const names = await this.guard(`list ${path}`, () => this.kernel.readdir(path));
    return names.filter((name) => name !== "." && name !== "..");
  }

  async readdirRecursive(path: string, maxDepth: number | undefined, exclude: string[]): Promise<DirEntryInfo[]> {
    assertGuestPath(path);
    const skip = new Set(exclude);
    const results: DirEntryInfo[] = [];
    const queue: [string, number][] = [[path, 0]];
    while (queue.length > 0) {
      const [dir, depth] = queue.shift() as [string, number];
      for (const name of await this.readdir(dir)) {
        if (skip.has(name)) continue;
        const entry = childPath(dir, name);
        const stat = await this.guard(`stat ${entry}`, () => this.vfs.lstat(entry));
        const type = stat.isSymbolicLink ? "symlink" : stat.isDirectory ? "directory" : "file";
        results.push({ path: entry, type, size: stat.size });
        if (type === "directory" && (maxDepth === undefined || depth < maxDepth)) queue.push([entry, depth + 1]);
      }
    }
    return results;
  }

  async stat(path: string): Promise<VirtualStat> {
    assertGuestPath(path);
    return this.guard(`stat ${path}`, () => this.kernel.stat(path));
  }

  async exists(path: string): Promise<boolean> {
    assertGuestPath(path);
    return this.guard(`check ${path}`, () => this.kernel.exists(path));
  }

  async move(from: string, to: string): Promise<void> {
    assertGuestPath(from, "from");
    assertGuestPath(to, "to");
    if (to === from || to.startsWith(`${from}/`)) {
      throw posixError("EINVAL", `move ${from} into itself (${to})`);
    }
    const stat = await this.guard(`stat ${from}`, () => this.vfs.lstat(from));
    try {
      await this.kernel.rename(from, to);
      return;
    } catch (error) {
      // Across mounts a rename cannot work; copy, then delete.
      if ((error as { code?: string }).code !== "EXDEV") throw fromGuestError(error, `move ${from} to ${to}`);
    }
    this.preflight(from, `move ${from} to ${to}`);
    await this.copy(from, to, stat);
    await this.delete(from, true);
  }

  async delete(path: string, recursive: boolean): Promise<void> {
    assertGuestPath(path);
    if (path === "/") throw posixError("EBUSY", "delete /");
    const stat = await this.guard(`stat ${path}`, () => this.vfs.lstat(path));
    if (stat.isDirectory && !stat.isSymbolicLink) {
      if (recursive) {
        this.preflight(path, `delete ${path}`);
        for (const name of await this.readdir(path)) await this.delete(childPath(path, name), true);
      }
      await this.guard(`delete directory ${path}`, () => this.kernel.removeDir(path));
      return;
    }
    await this.guard(`delete ${path}`, () => this.kernel.removeFile(path));
  }

  mount(descriptor: MountDescriptor): void {
    const mount: ResolvedMount = resolveMount(descriptor, "mount");
    try {
      this.kernel.mountFs(mount.path, mount.fs, { readOnly: mount.readOnly });
    } catch (error) {
      throw fromGuestError(error, `mount at ${mount.path}`);
    }
  }

  unmount(path: string): void {
    assertGuestPath(path);
    try {
      this.kernel.unmountFs(path);
    } catch (error) {
      throw fromGuestError(error, `unmount ${path}`);
    }
  }

  private async copy(from: string, to: string, stat: VirtualStat): Promise<void> {
    const vfs = this.vfs;
    if (stat.isSymbolicLink) {
      const target = await this.guard(`read link ${from}`, () => vfs.readlink(from));
      await this.guard(`create link ${to}`, () => vfs.symlink(target, to));
      return;
    }
    if (stat.isDirectory) {
      await this.guard(`create directory ${to}`, () => this.kernel.mkdir(to));
      for (const name of await this.readdir(from)) {
        const source = childPath(from, name);
        const entryStat = await this.guard(`stat ${source}`, () => vfs.lstat(source));
        await this.copy(source, childPath(to, name), entryStat);
      }
      return;
    }
    const content = await this.readFile(from);
    await this.writeFile(to, content);
    await this.guard(`chmod ${to}`, () => vfs.chmod(to, stat.mode));
  }

  /** Refuses a multi-step change the policy would stop half-way. */
  private preflight(path: string, action: string): void {
    const decision = this.mayChangeTree(path);
    if (!decision.allow) throw posixError("EACCES", `${action}: ${decision.reason}`);
  }

  private async lstatOrUndefined(path: string): Promise<VirtualStat | undefined> {
    try {
      return await this.vfs.lstat(path);
    } catch {
      return undefined;
    }
  }

  private async guard<T>(action: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw fromGuestError(error, action);
    }
  }
}
