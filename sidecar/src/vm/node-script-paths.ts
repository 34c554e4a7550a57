import { posix } from "node:path";
import type { KernelRuntimeDriver } from "@secure-exec/core";

/**
 * The Node runtime of @secure-exec/nodejs 0.2.1 reads a script given by a
 * relative path (`node app.js`) from "/" instead of the process's working
 * directory (see NOTES.md). This decorator makes the script path absolute
 * against the process cwd before the runtime sees it, following the
 * runtime's own rule for which argument is the script.
 */
export function withScriptPathsFromCwd(driver: KernelRuntimeDriver): KernelRuntimeDriver {
  return {
    get name() {
      return driver.name;
    },
    get commands() {
      return driver.commands;
    },
    init: (kernel) => driver.init(kernel),
    tryResolve: driver.tryResolve ? (command) => driver.tryResolve?.(command) ?? false : undefined,
    dispose: () => driver.dispose(),
    spawn(command, args, context) {
      const isNode = posix.basename(command) === "node";
      return driver.spawn(command, isNode ? absoluteScript(args, context.cwd) : args, context);
    },
  };
}

function absoluteScript(args: string[], cwd: string): string[] {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "-e" || arg === "--eval" || arg === "-p" || arg === "--print") return args;
    if (arg.startsWith("-")) continue;
    if (arg.startsWith("/")) return args;
    const copy = [...args];
    copy[i] = posix.resolve(cwd || "/", arg);
    return copy;
  }
  return args;
}
