import { posix } from "node:path";
import type { KernelRuntimeDriver } from "@secure-exec/core";
import { decorateDriver } from "./driver-decorator.js";

/**
 * Commands of the Node runtime the guest must not have: secure-exec 0.2.1
 * runs the HOST's npm CLI for them with a host-filesystem fallback and
 * every fs permission, so `npm config list --userconfig /etc/passwd` would
 * print a host file (see docs/runtime-notes.md).
 */
const HOST_COMMANDS = new Set(["npm", "npx"]);

/**
 * Decorates the Node runtime of @secure-exec/nodejs 0.2.1:
 * - it reads a script given by a relative path (`node app.js`) from "/"
 *   instead of the process's working directory, so the script path is made
 *   absolute against the process cwd, following the runtime's own rule for
 *   which argument is the script;
 * - it falls back to the host filesystem for script paths under
 *   /root/node_modules without normalising them, so
 *   `node /root/node_modules/../../etc/hostname` would run a host file:
 *   every script path is normalised (no `..` left) before it sees it;
 * - npm and npx (see HOST_COMMANDS) are not offered.
 */
export function withScriptPathsFromCwd(driver: KernelRuntimeDriver): KernelRuntimeDriver {
  return decorateDriver(driver, {
    commands: (commands) => commands.filter((command) => !HOST_COMMANDS.has(command)),
    tryResolve: (command) => !HOST_COMMANDS.has(posix.basename(command)),
    spawn(command, args, context) {
      if (HOST_COMMANDS.has(posix.basename(command))) {
        // The kernel resolved it anyway (a stale registry entry): run nothing.
        return driver.spawn("node", ["-e", `console.error("${posix.basename(command)}: command not found"); process.exit(127)`], context);
      }
      if (/\.[cm]?js$/.test(command)) return driver.spawn(posix.resolve(context.cwd || "/", command), args, context);
      const isNode = posix.basename(command) === "node";
      return driver.spawn(command, isNode ? absoluteScript(args, context.cwd) : args, context);
    },
  });
}

function absoluteScript(args: string[], cwd: string): string[] {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "-e" || arg === "--eval" || arg === "-p" || arg === "--print") return args;
    if (arg.startsWith("-")) continue;
    const copy = [...args];
    copy[i] = posix.resolve(cwd || "/", arg);
    return copy;
  }
  return args;
}
