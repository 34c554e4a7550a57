import type { KernelRuntimeDriver } from "@secure-exec/core";

/**
 * A runtime driver that behaves like `driver` except for what `change`
 * replaces: how it spawns, which commands it offers, which it resolves.
 */
export function decorateDriver(
  driver: KernelRuntimeDriver,
  change: {
    spawn?: KernelRuntimeDriver["spawn"];
    commands?: (commands: string[]) => string[];
    tryResolve?: (command: string) => boolean;
  },
): KernelRuntimeDriver {
  return {
    get name() {
      return driver.name;
    },
    get commands() {
      return change.commands ? change.commands(driver.commands) : driver.commands;
    },
    init: (kernel) => driver.init(kernel),
    tryResolve: driver.tryResolve
      ? (command) => (change.tryResolve ? change.tryResolve(command) : true) && (driver.tryResolve?.(command) ?? false)
      : undefined,
    dispose: () => driver.dispose(),
    spawn: change.spawn ?? ((command, args, context) => driver.spawn(command, args, context)),
  };
}
