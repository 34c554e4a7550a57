// Bundles the ACP adapter into one ESM file (dist/adapter.mjs) that runs
// inside the VM. Why one file: README.md ("How the adapter is built").
import { build } from "esbuild";

const here = new URL("..", import.meta.url);

await build({
  absWorkingDir: here.pathname,
  entryPoints: ["src/adapter.ts"],
  outfile: "dist/adapter.mjs",
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  legalComments: "none",
  logLevel: "warning",
  // Optional native or host-only modules Pi imports lazily; never loaded in the VM.
  external: ["@mariozechner/clipboard", "koffi", "@silvia-odwyer/photon-node"],
  // Pi imports it optionally for tracing; the VM has no collector.
  alias: { "@opentelemetry/api": "./src/stubs/opentelemetry.ts" },
  // CommonJS dependencies call require() for Node built-ins.
  banner: {
    js: "import { createRequire as __agentosCreateRequire } from 'node:module'; const require = __agentosCreateRequire(import.meta.url);",
  },
});
