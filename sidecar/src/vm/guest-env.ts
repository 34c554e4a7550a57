import type { KernelRuntimeDriver } from "@secure-exec/core";
import { decorateDriver } from "./driver-decorator.js";

/**
 * Applies the env scope of the permission policy to every process a
 * runtime starts, whoever asked for it (the client, the guest itself): the
 * process sees only the variables the policy lets it read.
 */
export function withGuestEnv(
  driver: KernelRuntimeDriver,
  filter: (env: Record<string, string>) => Record<string, string>,
): KernelRuntimeDriver {
  return decorateDriver(driver, {
    spawn(command, args, context) {
      // In place, never a copy: the kernel keeps this object and changes it
      // after the spawn (it swaps the output callbacks the runtime calls; a
      // copy would keep a buffer of everything the process writes).
      context.env = filter(context.env);
      return driver.spawn(command, args, context);
    },
  });
}
