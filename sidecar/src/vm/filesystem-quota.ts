import { KernelError, O_TRUNC, type VirtualFileSystem } from "@secure-exec/core";

interface SyncOpen {
  /** The kernel's synchronous hook for O_CREAT/O_EXCL/O_TRUNC opens (not in the VirtualFileSystem type). */
  prepareOpenSync?(path: string, flags: number): boolean;
  dispose?(): void;
}

export type QuotaFileSystem = VirtualFileSystem & SyncOpen & { usedBytes(): Promise<number> };

/**
 * Wraps the VM's root filesystem and refuses, with ENOSPC, any write that
 * would take the bytes stored past the limit. Mounts are separate
 * filesystems and are not counted.
 *
 * A truncating open (`echo x > file`) reaches the filesystem through the
 * kernel's synchronous prepareOpenSync hook, where the old size cannot be
 * read. There the wrapper opens without O_TRUNC and truncates itself, so
 * the freed bytes are credited; every later operation on that path waits
 * for the truncation first, which keeps the order the guest sees.
 */
export function withByteQuota(inner: VirtualFileSystem & SyncOpen, maxBytes: number): QuotaFileSystem {
  let used = 0;
  const truncations = new Map<string, Promise<void>>();

  const settled = (path: string): Promise<void> | undefined => truncations.get(path);

  /** Size of the file a write to `path` changes (symlinks followed); 0 if there is none. */
  const sizeFor = async (path: string): Promise<number> => {
    try {
      const stat = await inner.stat(path);
      return stat.isDirectory ? 0 : stat.size;
    } catch {
      return 0;
    }
  };

  /** Size a removal of `path` frees (the entry itself; nothing while other links keep the data). */
  const freedBy = async (path: string): Promise<number> => {
    try {
      const stat = await inner.lstat(path);
      return stat.isDirectory || stat.isSymbolicLink || stat.nlink > 1 ? 0 : stat.size;
    } catch {
      return 0;
    }
  };

  const reserve = (delta: number, path: string) => {
    if (delta > 0 && used + delta > maxBytes) {
      throw new KernelError(
        "ENOSPC",
        `no space left on device: writing ${path} would store ${used + delta} bytes, over limits.maxFilesystemBytes (${maxBytes})`,
      );
    }
  };

  const after =
    <A extends unknown[], R>(operation: (path: string, ...rest: A) => Promise<R>) =>
    async (path: string, ...rest: A): Promise<R> => {
      await settled(path);
      return operation(path, ...rest);
    };

  const wrapped: QuotaFileSystem = {
    async usedBytes() {
      await Promise.all(truncations.values());
      return used;
    },
    readFile: after((p) => inner.readFile(p)),
    readTextFile: after((p) => inner.readTextFile(p)),
    readDir: (p) => inner.readDir(p),
    readDirWithTypes: (p) => inner.readDirWithTypes(p),
    writeFile: after(async (path, content: string | Uint8Array) => {
      const next = typeof content === "string" ? Buffer.byteLength(content) : content.byteLength;
      const before = await sizeFor(path);
      reserve(next - before, path);
      await inner.writeFile(path, content);
      used += next - before;
    }),
    createDir: (p) => inner.createDir(p),
    mkdir: (p, o) => inner.mkdir(p, o),
    exists: after((p) => inner.exists(p)),
    stat: after((p) => inner.stat(p)),
    removeFile: after(async (path) => {
      const freed = await freedBy(path);
      await inner.removeFile(path);
      used -= freed;
    }),
    removeDir: (p) => inner.removeDir(p),
    rename: after(async (from, to: string) => {
      await settled(to);
      const freed = from === to ? 0 : await freedBy(to);
      await inner.rename(from, to);
      used -= freed;
    }),
    realpath: (p) => inner.realpath(p),
    symlink: (t, l) => inner.symlink(t, l),
    readlink: (p) => inner.readlink(p),
    lstat: after((p) => inner.lstat(p)),
    link: (a, b) => inner.link(a, b),
    chmod: (p, m) => inner.chmod(p, m),
    chown: (p, u, g) => inner.chown(p, u, g),
    utimes: (p, a, m) => inner.utimes(p, a, m),
    truncate: after(async (path, length: number) => {
      const before = await sizeFor(path);
      reserve(length - before, path);
      await inner.truncate(path, length);
      used += length - before;
    }),
    pread: after((p, o: number, l: number) => inner.pread(p, o, l)),
    pwrite: after(async (path, offset: number, data: Uint8Array) => {
      const before = await sizeFor(path);
      const grown = Math.max(before, offset + data.byteLength);
      reserve(grown - before, path);
      await inner.pwrite(path, offset, data);
      used += grown - before;
    }),
    prepareOpenSync(path, flags) {
      if (!inner.prepareOpenSync) return false;
      const truncating = (flags & O_TRUNC) !== 0;
      const created = inner.prepareOpenSync(path, truncating ? flags & ~O_TRUNC : flags);
      if (truncating && !created) {
        const previous = truncations.get(path);
        const job = (async () => {
          await previous;
          const before = await sizeFor(path);
          await inner.truncate(path, 0);
          used -= before;
        })();
        truncations.set(path, job);
        job
          .catch(() => {})
          .finally(() => {
            if (truncations.get(path) === job) truncations.delete(path);
          });
      }
      return created;
    },
  };
  if (inner.fsync) wrapped.fsync = (p) => inner.fsync?.(p) ?? Promise.resolve();
  if (inner.readDirStat) wrapped.readDirStat = (p) => inner.readDirStat?.(p) ?? Promise.resolve([]);
  if (inner.dispose) wrapped.dispose = () => inner.dispose?.();
  if (inner.copy) {
    const copy = inner.copy.bind(inner);
    wrapped.copy = after(async (from, to: string) => {
      const size = await sizeFor(from);
      const before = await sizeFor(to);
      reserve(size - before, to);
      await copy(from, to);
      used += size - before;
    });
  }
  return wrapped;
}
