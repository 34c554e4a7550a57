/** The guest user's home; every process starts there unless told otherwise. */
export const HOME = "/home/user";

/**
 * The environment every guest process starts with. Nothing from the host
 * environment is copied in: only what the VM's config adds on top.
 */
export function baseEnvironment(): Record<string, string> {
  return {
    HOME,
    USER: "user",
    LOGNAME: "user",
    SHELL: "/bin/sh",
    PATH: "/usr/local/bin:/usr/bin:/bin",
    TERM: "xterm-256color",
    LANG: "C.UTF-8",
    TMPDIR: "/tmp",
    HOSTNAME: "agentos",
  };
}
