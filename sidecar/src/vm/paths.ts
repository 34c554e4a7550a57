import { posix } from "node:path";
import { invalidArgument } from "../errors.js";

const MAX_PATH_BYTES = 4096;

/**
 * Guest paths on the wire are absolute and normalised. Anything else is
 * refused rather than guessed at: "a/b", "/a/../b", "/a//b", "/a/".
 */
export function assertGuestPath(path: string, what = "path"): string {
  if (typeof path !== "string" || path.length === 0) {
    throw invalidArgument(`${what} is empty; pass an absolute path such as /home/user/file.txt`);
  }
  if (path.includes("\0")) throw invalidArgument(`${what} contains a NUL byte`);
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) {
    throw invalidArgument(`${what} is longer than ${MAX_PATH_BYTES} bytes`);
  }
  if (!path.startsWith("/")) {
    throw invalidArgument(`${what} "${path}" is relative; pass an absolute path (for example "/home/user/${path}")`);
  }
  const normalised = posix.normalize(path);
  const canonical = normalised.length > 1 && normalised.endsWith("/") ? normalised.slice(0, -1) : normalised;
  if (canonical !== path) {
    throw invalidArgument(`${what} "${path}" is not normalised; pass "${canonical}"`);
  }
  return path;
}

/** The entry path for `name` inside directory `dir`. */
export function childPath(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}
