import type { Vm } from "../vm/vm.js";

/** Where every VM keeps the base OS instructions agents are given. */
export const INSTRUCTIONS_PATH = "/etc/agentos/instructions.md";

/** The base text about the VM an agent is told: tools, paths, limits. */
export function baseInstructions(vm: Vm, home: string): string {
  const l = vm.limits;
  const mib = (bytes: number) => `${Math.round(bytes / (1024 * 1024))} MiB`;
  return `# You are running inside an agentOS VM

This is a lightweight virtual machine, not the user's computer. Everything you
do stays inside it; the user reads your results through the agentOS API.

## Environment
- Shell: \`sh\` (POSIX). Commands: the common POSIX set (ls, cat, cp, mv, rm,
  mkdir, echo, grep, sed, awk, find, diff, tar, gzip, head, tail, wc, ...).
  There is no package manager and no compiler.
- JavaScript: \`node\` runs scripts (\`node file.js\`, \`node -e "..."\`).
- Home directory: ${home}. Temporary files: /tmp.
- Network: outbound connections are denied unless the VM's owner allowed them.
- ${INSTRUCTIONS_PATH.slice(0, INSTRUCTIONS_PATH.lastIndexOf("/"))} holds these instructions; it is read-only.

## Limits
- Each process may run for ${Math.round(l.cpuTimeMs / 1000)} s; a command that runs longer is ended.
- Memory per JavaScript process: ${l.memoryMib} MiB. Processes at once: ${l.maxProcesses}.
- Files you write may total ${mib(l.maxFilesystemBytes)}. Output kept per command: ${mib(l.maxOutputBytes)}.
`;
}

/** Writes the base instructions (and the VM-wide additional ones) into the VM at boot. */
export async function writeBaseInstructions(vm: Vm, additional: string): Promise<void> {
  const parts = [baseInstructions(vm, vm.home), vm.tools.reference(), additional.trim() ? `${additional.trim()}\n` : ""];
  const text = parts.filter(Boolean).join("\n");
  await vm.writeSystemFile(INSTRUCTIONS_PATH, new TextEncoder().encode(text));
}

/** The instructions a session's agent gets: the base text (unless skipped), then the user's. */
export async function sessionInstructions(vm: Vm, options: { skipBase: boolean; additional: string }): Promise<string> {
  const parts: string[] = [];
  if (!options.skipBase) {
    try {
      parts.push(new TextDecoder().decode(await vm.fs.readFile(INSTRUCTIONS_PATH)).trim());
    } catch {
      // Removed by the guest or the user: nothing to add.
    }
  }
  if (options.additional.trim()) parts.push(options.additional.trim());
  return parts.join("\n\n");
}
