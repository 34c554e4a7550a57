import { KernelError, type VirtualFileSystem, type VirtualStat } from "@secure-exec/core";

/**
 * Wraps the VM's root filesystem and refuses, with ENOSPC, any write that
 * would take the bytes stored past the limit. Mounts are separate
 * filesystems and are not counted.
 */
export function withByteQuota(inner: VirtualFileSystem, maxBytes: number): VirtualFileSystem & { usedBytes(): number } {
  let used = 0;

  const sizeOf = async (path: string): Promise<{ size: number; shared: boolean } | undefined> => {
    let stat: VirtualStat;
    try {
      stat = await inner.lstat(path);
    } catch {
      return undefined;
    }
    if (stat.isDirectory) return undefined;
    return { size: stat.size, shared: stat.nlink > 1 };
  };

  const reserve = (delta: number, path: string) => {
    if (delta > 0 && used + delta > maxBytes) {
      throw new KernelError(
        "ENOSPC",
        `no space left on device: writing ${path} would store ${used + delta} bytes, over limits.maxFilesystemBytes (${maxBytes})`,
      );
    }
  };

  const wrapped: VirtualFileSystem & { usedBytes(): number } = {
    usedBytes: () => used,
    readFile: (p) => inner.readFile(p),
    readTextFile: (p) => inner.readTextFile(p),
    readDir: (p) => inner.readDir(p),
    readDirWithTypes: (p) => inner.readDirWithTypes(p),
    async writeFile(path, content) {
      const next = typeof content === "string" ? Buffer.byteLength(content) : content.byteLength;
      const before = (await sizeOf(path))?.size ?? 0;
      reserve(next - before, path);
      await inner.writeFile(path, content);
      used += next - before;
    },
    createDir: (p) => inner.createDir(p),
    mkdir: (p, o) => inner.mkdir(p, o),
    exists: (p) => inner.exists(p),
    stat: (p) => inner.stat(p),
    async removeFile(path) {
      const before = await sizeOf(path);
      await inner.removeFile(path);
      if (before && !before.shared) used -= before.size;
    },
    removeDir: (p) => inner.removeDir(p),
    async rename(from, to) {
      const replaced = from === to ? undefined : await sizeOf(to);
      await inner.rename(from, to);
      if (replaced && !replaced.shared) used -= replaced.size;
    },
    realpath: (p) => inner.realpath(p),
    symlink: (t, l) => inner.symlink(t, l),
    readlink: (p) => inner.readlink(p),
    lstat: (p) => inner.lstat(p),
    link: (a, b) => inner.link(a, b),
    chmod: (p, m) => inner.chmod(p, m),
    chown: (p, u, g) => inner.chown(p, u, g),
    utimes: (p, a, m) => inner.utimes(p, a, m),
    async truncate(path, length) {
      const before = (await sizeOf(path))?.size ?? 0;
      reserve(length - before, path);
      await inner.truncate(path, length);
      used += length - before;
    },
    pread: (p, o, l) => inner.pread(p, o, l),
    async pwrite(path, offset, data) {
      const before = (await sizeOf(path))?.size ?? 0;
      const after = Math.max(before, offset + data.byteLength);
      reserve(after - before, path);
      await inner.pwrite(path, offset, data);
      used += after - before;
    },
  };
  if (inner.fsync) wrapped.fsync = (p) => inner.fsync?.(p) ?? Promise.resolve();
  if (inner.readDirStat) wrapped.readDirStat = (p) => inner.readDirStat?.(p) ?? Promise.resolve([]);
  if (inner.copy) {
    const copy = inner.copy.bind(inner);
    wrapped.copy = async (from, to) => {
      const size = (await sizeOf(from))?.size ?? 0;
      const before = (await sizeOf(to))?.size ?? 0;
      reserve(size - before, to);
      await copy(from, to);
      used += size - before;
    };
  }
  return wrapped;
}
