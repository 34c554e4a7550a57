#!/usr/bin/env node
// Regenerates every generated/ folder from proto/agentos/v1 (`just codegen`),
// or, with --check, regenerates into a temporary folder and fails when the
// committed output differs (`just codegen-check`).
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const check = process.argv.includes("--check");
// Every out: folder in codegen/buf.gen.yaml.
const generatedDirs = ["proto/src/generated", "sidecar/src/generated", "client-ts/src/generated"];

function run(cmd, args) {
  execFileSync(cmd, args, { cwd: root, stdio: "inherit" });
}

// The plugin is TypeScript; compile it first (Node 20 cannot run .ts directly).
run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "codegen/tsconfig.json"]);

const buf = join(root, "node_modules/.bin/buf");
const template = "codegen/buf.gen.yaml";

if (!check) {
  for (const dir of generatedDirs) rmSync(join(root, dir), { recursive: true, force: true });
  run(buf, ["generate", "proto", "--template", template]);
  console.log(`codegen: regenerated ${generatedDirs.join(", ")}`);
  process.exit(0);
}

const out = mkdtempSync(join(tmpdir(), "agentos-codegen-"));
try {
  run(buf, ["generate", "proto", "--template", template, "--output", out]);
  const problems = [];
  for (const dir of generatedDirs) {
    const fresh = listFiles(join(out, dir));
    const committed = listFiles(join(root, dir));
    for (const file of new Set([...fresh, ...committed])) {
      const a = join(out, dir, file);
      const b = join(root, dir, file);
      if (!existsSync(b)) problems.push(`missing: ${dir}/${file}`);
      else if (!existsSync(a)) problems.push(`stale (no longer generated): ${dir}/${file}`);
      else if (!readFileSync(a).equals(readFileSync(b))) problems.push(`out of date: ${dir}/${file}`);
    }
  }
  if (problems.length > 0) {
    console.error(
      `codegen-check: generated code does not match proto/ and codegen/:\n  ${problems.join("\n  ")}\nRun \`just codegen\` (or \`pnpm codegen\`) and commit the result.`,
    );
    process.exit(1);
  }
  console.log(`codegen-check: ${generatedDirs.join(", ")} are up to date`);
} finally {
  rmSync(out, { recursive: true, force: true });
}

function listFiles(dir) {
  if (!existsSync(dir)) return [];
  const files = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else files.push(relative(dir, p));
    }
  };
  walk(dir);
  return files.sort();
}
