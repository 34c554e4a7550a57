import { KernelError, type KernelErrorCode, O_TRUNC, type VirtualFileSystem, type VirtualStat } from "@secure-exec/core";

/** Not in secure-exec 0.2.1's error code type, but what Linux answers. */
const ENAMETOOLONG = "ENAMETOOLONG" as KernelErrorCode;

interface SyncOpen {
  /** The kernel's synchronous hook for O_CREAT/O_EXCL/O_TRUNC opens (not in the VirtualFileSystem type). */
  prepareOpenSync?(path: string, flags: number): boolean;
  dispose?(): void;
}

export type QuotaFileSystem = VirtualFileSystem &
  SyncOpen & {
    usedBytes(): Promise<number>;
    /** Forgets what is stored so far (the VM's own base files): the quota counts from here. */
    startCounting(): Promise<void>;
  };

/** Linux's limits on a name and on a path (or a symlink's target). */
export const NAME_MAX = 255;
export const PATH_MAX = 4096;
/**
 * What each file, folder or link costs in the quota besides its contents
 * (and its name, and a link's target): the in-memory filesystem keeps an
 * inode and a directory entry for it. Without this a guest could fill the
 * sidecar's memory with empty files.
 */
export const ENTRY_BYTES = 256;

/**
 * Wraps the VM's root filesystem and refuses, with ENOSPC, any write that
 * would take the bytes stored past the limit. Every entry costs
 * ENTRY_BYTES plus its name (and a symlink its target) on top of its
 * contents; names over NAME_MAX, paths and link targets over PATH_MAX are
 * refused with ENAMETOOLONG. Mounts are separate filesystems and are not
 * counted.
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

  /** Credits are clamped: removing the VM's own (uncounted) files gives nothing back. */
  const credit = (bytes: number) => {
    used = Math.max(0, used - bytes);
  };

  const reserve = (delta: number, path: string) => {
    if (delta > 0 && used + delta > maxBytes) {
      throw new KernelError(
        "ENOSPC",
        `no space left on device: writing ${path} would store ${used + delta} bytes, over limits.maxFilesystemBytes (${maxBytes})`,
      );
    }
  };

  const checkName = (path: string) => {
    const name = path.slice(path.lastIndexOf("/") + 1);
    if (Buffer.byteLength(name) > NAME_MAX) throw new KernelError(ENAMETOOLONG, `file name too long: ${name.slice(0, 64)}...`);
    if (Buffer.byteLength(path) > PATH_MAX) throw new KernelError(ENAMETOOLONG, `path too long: ${path.slice(0, 64)}...`);
  };

  const nameBytes = (path: string) => Buffer.byteLength(path.slice(path.lastIndexOf("/") + 1));

  /** What an entry at `path` costs besides its contents. */
  const entryCost = (path: string, target = "") => ENTRY_BYTES + nameBytes(path) + Buffer.byteLength(target);

  /** The entry at `path` (not followed), what it costs, and what removing it frees; undefined if there is none. */
  const entryAt = async (path: string): Promise<{ cost: number; freed: number; isSymbolicLink: boolean } | undefined> => {
    let stat: VirtualStat;
    try {
      stat = await inner.lstat(path);
    } catch {
      return undefined;
    }
    const target = stat.isSymbolicLink ? await inner.readlink(path).catch(() => "") : "";
    // Contents are freed with the last link to them.
    const freed = stat.isDirectory || stat.isSymbolicLink || stat.nlink > 1 ? 0 : stat.size;
    return { cost: entryCost(path, target), freed, isSymbolicLink: stat.isSymbolicLink };
  };

  /** Charges a new entry (checked first), runs `create`, credits it back if that fails. */
  const creating = async <R>(path: string, cost: number, create: () => Promise<R>): Promise<R> => {
    checkName(path);
    reserve(cost, path);
    used += cost;
    try {
      return await create();
    } catch (error) {
      credit(cost);
      throw error;
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
    async startCounting() {
      await Promise.all(truncations.values());
      used = 0;
    },
    readFile: after((p) => inner.readFile(p)),
    readTextFile: after((p) => inner.readTextFile(p)),
    readDir: (p) => inner.readDir(p),
    readDirWithTypes: (p) => inner.readDirWithTypes(p),
    writeFile: after(async (path, content: string | Uint8Array) => {
      const next = typeof content === "string" ? Buffer.byteLength(content) : content.byteLength;
      const entry = await entryAt(path);
      // A symlink's file is elsewhere: follow it for the size the write replaces.
      const before = !entry ? 0 : entry.isSymbolicLink ? await sizeFor(path) : entry.freed;
      const write = async () => {
        reserve(next - before, path);
        await inner.writeFile(path, content);
        used += next - before;
      };
      if (entry) return write();
      return creating(path, entryCost(path), write);
    }),
    createDir: async (p) => {
      if (await entryAt(p)) return inner.createDir(p);
      return creating(p, entryCost(p), () => inner.createDir(p));
    },
    mkdir: async (path, options) => {
      // Every folder of the path that does not exist yet is a new entry.
      let cost = 0;
      const parts = path.split("/").filter(Boolean);
      for (let i = parts.length; i > 0; i--) {
        const at = `/${parts.slice(0, i).join("/")}`;
        if (await entryAt(at)) break;
        checkName(at);
        cost += entryCost(at);
        if (!options?.recursive) break;
      }
      if (cost === 0) return inner.mkdir(path, options);
      return creating(path, cost, () => inner.mkdir(path, options));
    },
    exists: after((p) => inner.exists(p)),
    stat: after((p) => inner.stat(p)),
    removeFile: after(async (path) => {
      const entry = await entryAt(path);
      await inner.removeFile(path);
      credit((entry?.freed ?? 0) + (entry?.cost ?? 0));
    }),
    removeDir: async (path) => {
      const entry = await entryAt(path);
      await inner.removeDir(path);
      credit(entry?.cost ?? 0);
    },
    rename: after(async (from, to: string) => {
      await settled(to);
      if (from === to) return inner.rename(from, to);
      checkName(to);
      const moved = await entryAt(from);
      const replaced = await entryAt(to);
      // The moved entry costs the same but for its name; the replaced one is gone.
      const grown = (moved ? nameBytes(to) - nameBytes(from) : 0) - (replaced ? replaced.cost + replaced.freed : 0);
      reserve(grown, to);
      await inner.rename(from, to);
      if (grown >= 0) used += grown;
      else credit(-grown);
    }),
    realpath: (p) => inner.realpath(p),
    symlink: async (target, linkPath) => {
      if (Buffer.byteLength(target) > PATH_MAX)
        throw new KernelError(ENAMETOOLONG, `symlink target too long (${Buffer.byteLength(target)} bytes)`);
      return creating(linkPath, entryCost(linkPath, target), () => inner.symlink(target, linkPath));
    },
    readlink: (p) => inner.readlink(p),
    lstat: after((p) => inner.lstat(p)),
    link: (existing, linkPath) => creating(linkPath, entryCost(linkPath), () => inner.link(existing, linkPath)),
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
      // A file this open creates is charged up front (the hook is
      // synchronous; it is credited back if nothing was created).
      const cost = entryCost(path);
      checkName(path);
      reserve(cost, path);
      const created = inner.prepareOpenSync(path, truncating ? flags & ~O_TRUNC : flags);
      if (created) used += cost;
      if (truncating && !created) {
        const previous = truncations.get(path);
        const job = (async () => {
          await previous;
          const before = await sizeFor(path);
          await inner.truncate(path, 0);
          credit(before);
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
