import { createRequire } from "node:module";

/** This package's version: what the sidecar compares in the hello. */
export const SIDECAR_VERSION: string = (createRequire(import.meta.url)("../package.json") as { version: string }).version;
