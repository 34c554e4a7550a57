import { createRequire } from "node:module";

/** This package's version: what the client sends in the hello. */
export const CLIENT_VERSION: string = (createRequire(import.meta.url)("../package.json") as { version: string }).version;
