import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const buf = join(root, "node_modules/.bin/buf");
const plugin = join(root, "codegen/dist/main.js");
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Runs protoc-gen-agentos (side=proto) on one schema; returns the generated method table. */
function generate(schema: string): string {
  const dir = mkdtempSync(join(tmpdir(), "agentos-codegen-test-"));
  dirs.push(dir);
  mkdirSync(join(dir, "proto/t/v1"), { recursive: true });
  writeFileSync(join(dir, "proto/buf.yaml"), "version: v2\n");
  writeFileSync(join(dir, "proto/t/v1/t.proto"), `syntax = "proto3";\npackage t.v1;\n${schema}`);
  writeFileSync(
    join(dir, "buf.gen.yaml"),
    `version: v2\nplugins:\n  - local: ["node", ${JSON.stringify(plugin)}]\n    out: out\n    strategy: all\n    opt: [target=ts, side=proto]\n`,
  );
  try {
    execFileSync(buf, ["generate", "proto", "--template", "buf.gen.yaml"], { cwd: dir, stdio: "pipe" });
  } catch (error) {
    throw new Error((error as { stderr?: Buffer }).stderr?.toString() ?? String(error));
  }
  return readFileSync(join(dir, "out/method-table.ts"), "utf8");
}

const hashOf = (table: string) => /SCHEMA_HASH = "([^"]+)"/.exec(table)?.[1];

describe("protoc-gen-agentos", () => {
  it("writes a method table entry per rpc, services named Client… implemented by the client", () => {
    const table = generate(`
      message A { string x = 1; }
      service ThingService { rpc Get(A) returns (A); rpc Watch(A) returns (stream A); }
      service ClientService { rpc Ask(A) returns (A); }`);
    expect(table).toContain('fullName: "t.v1.ThingService/Get"');
    expect(table).toMatch(/localName: "watch",\n\s+kind: "server_streaming",\n\s+implementedBy: "sidecar"/);
    expect(table).toMatch(/localName: "ask",\n\s+kind: "unary",\n\s+implementedBy: "client"/);
  });

  it("refuses rpc names that clash across services", () => {
    expect(() =>
      generate(`
        message A { string x = 1; }
        service OneService { rpc Get(A) returns (A); }
        service TwoService { rpc Get(A) returns (A); }`),
    ).toThrow(/share the name "get"/);
  });

  it("refuses client-streaming rpcs, which the wire does not carry", () => {
    expect(() => generate(`message A { string x = 1; }\nservice S { rpc Up(stream A) returns (A); }`)).toThrow(
      /unary and server-streaming calls only/,
    );
  });

  it("hashes what the wire sees: comments do not change the hash, fields do", () => {
    const base = generate(`message A { string x = 1; }\nservice S { rpc Get(A) returns (A); }`);
    const commented = generate(`// A comment.\nmessage A {\n  // The x.\n  string x = 1;\n}\nservice S { rpc Get(A) returns (A); }`);
    const changed = generate(`message A { string x = 1; int32 y = 2; }\nservice S { rpc Get(A) returns (A); }`);
    expect(hashOf(base)).toMatch(/^sha256:[0-9a-f]{32}$/);
    expect(hashOf(commented)).toBe(hashOf(base));
    expect(hashOf(changed)).not.toBe(hashOf(base));
  });
});
