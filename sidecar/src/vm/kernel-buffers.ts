import type { DriverProcess, KernelRuntimeDriver } from "@secure-exec/core";
import { decorateDriver } from "./driver-decorator.js";

/**
 * secure-exec 0.2.1's kernel buffers everything a process writes when the
 * one who started it gave no output callback (a child of a guest process:
 * its output already reaches the parent or a pipe, and the buffer is only
 * for a later reader of the process handle). The buffer has no bound and
 * lives as long as the process entry: a guest flooding stdout from a child
 * of `sh` fills the sidecar's memory (hundreds of MiB per second).
 *
 * This decorator recognises the kernel's buffering callbacks when the
 * kernel installs them on a process and bounds them to `maxBytes` per
 * stream (later bytes are dropped, as for held output). Every other
 * callback is left alone.
 */
export function withBoundedKernelBuffers(driver: KernelRuntimeDriver, maxBytes: number): KernelRuntimeDriver {
  return decorateDriver(driver, {
    spawn(command, args, context) {
      const process = driver.spawn(command, args, context);
      bound(process, "onStdout", maxBytes);
      bound(process, "onStderr", maxBytes);
      return process;
    },
  });
}

type Output = (data: Uint8Array) => void;

/** The kernel's buffering callbacks, by their source (kernel.js spawnInternal). */
const KERNEL_BUFFER = /^\(data\) => std(out|err)Buf\.push\(data\)$/;

export function isKernelBuffer(callback: unknown): boolean {
  return typeof callback === "function" && KERNEL_BUFFER.test(Function.prototype.toString.call(callback));
}

function bound(process: DriverProcess, key: "onStdout" | "onStderr", maxBytes: number): void {
  let current: Output | null = process[key];
  Object.defineProperty(process, key, {
    configurable: true,
    enumerable: true,
    get: () => current,
    set(callback: Output | null) {
      if (!isKernelBuffer(callback)) {
        current = callback;
        return;
      }
      let kept = 0;
      const buffer = callback as Output;
      current = (data) => {
        if (kept >= maxBytes) return;
        const room = maxBytes - kept;
        const part = data.byteLength > room ? data.subarray(0, room) : data;
        kept += part.byteLength;
        buffer(part);
      };
    },
  });
}
