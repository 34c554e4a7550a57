import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { methods, PermissionEffect } from "@agentos/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytes, TestSidecar } from "../harness.js";
import { expectStillServing, nodeEval, nodeTry, readVmFile } from "./helpers.js";

// Hostile guest vs. the filesystem boundary: host files, /etc/agentos, the fs
// permission scope and other VMs' files.

const HOST_SECRET = "AGENTOS_HOSTILE_FILE_SECRET_7f3a";
const INSTRUCTIONS = "/etc/agentos/instructions.md";
/** The VM's base environment (vm/base-environment.ts). */
const BASE_NAMES = ["HOME", "USER", "LOGNAME", "SHELL", "PATH", "TERM", "LANG", "TMPDIR", "HOSTNAME"];

let sidecar: TestSidecar;
let bystander: string;
let hostDir: string;

beforeAll(async () => {
  hostDir = mkdtempSync(join(tmpdir(), "agentos-hostile-"));
  writeFileSync(join(hostDir, "secret.txt"), HOST_SECRET);
  writeFileSync(join(hostDir, "evil.js"), `console.log("HOST SCRIPT RAN ${HOST_SECRET}")`);
  writeFileSync(join(hostDir, "secret.ini"), `stolen=${HOST_SECRET}\n`);
  sidecar = await TestSidecar.start();
  bystander = await sidecar.createVm();
});
afterAll(async () => {
  await sidecar.stop();
  rmSync(hostDir, { recursive: true, force: true });
});

describe("host files", () => {
  it("are not visible from the shell: /etc/hostname, /etc/passwd, a host temp file, `..` tricks", async () => {
    const vmId = await sidecar.createVm();
    for (const path of [
      "/etc/hostname",
      "/etc/passwd",
      "/etc/shadow",
      `${hostDir}/secret.txt`,
      "/../../etc/passwd",
      `/tmp/../../..${hostDir}/secret.txt`,
      `/root/node_modules/../../..${hostDir}/secret.txt`,
    ]) {
      const result = await sidecar.exec(vmId, `cat ${path}`);
      expect(result, path).toMatchObject({ exitCode: 1, stdout: "" });
      expect(result.stderr, path).toMatch(/No such file or directory/);
    }
    const listing = await sidecar.exec(vmId, `ls ${hostDir}; ls /etc`);
    expect(listing.stdout).toBe("agentos\n");
    await expectStillServing(sidecar, bystander);
  });

  it("are not visible from guest Node's fs", async () => {
    const vmId = await sidecar.createVm();
    const paths = ["/etc/hostname", "/etc/passwd", `${hostDir}/secret.txt`, "/../../etc/passwd", "../../../../etc/passwd"];
    for (const path of paths) {
      const result = await sidecar.exec(vmId, nodeTry(`result = fs.readFileSync("${path}", "utf8")`));
      expect(result.stdout, path).toBe(`ERR ENOENT ENOENT: no such file or directory, open '${path}'\n`);
    }
    const dir = await sidecar.exec(vmId, nodeTry(`result = fs.readdirSync("${hostDir}")`));
    expect(dir.stdout).toMatch(/^ERR .*ENOENT/);
    // /root/node_modules is the runtime's module projection: empty unless the config names a folder.
    const modules = await sidecar.exec(vmId, nodeTry(`result = JSON.stringify(fs.readdirSync("/root/node_modules"))`));
    expect(modules.stdout).toBe("OK []\n");
    const escaped = await sidecar.exec(
      vmId,
      nodeTry(`result = fs.readFileSync("/root/node_modules/../../..${hostDir}/secret.txt", "utf8")`),
    );
    expect(escaped.stdout).toMatch(/^ERR .*ENOENT/);
    const required = await sidecar.exec(vmId, nodeTry(`result = require("/root/node_modules/../../..${hostDir}/evil.js")`));
    expect(required.stdout).toMatch(/^ERR .*Cannot find module/);
    await expectStillServing(sidecar, bystander);
  });

  it("/proc is the VM's own: environ holds the VM's environment, never the host's", async () => {
    const vmId = await sidecar.createVm();
    const self = await sidecar.exec(vmId, nodeTry(`result = JSON.stringify(fs.readFileSync("/proc/self/environ", "utf8").split("\\0"))`));
    const vars: string[] = JSON.parse(self.stdout.replace(/^OK /, ""));
    expect(vars).toContain("HOME=/home/user");
    expect(vars).toContain("PATH=/usr/local/bin:/usr/bin:/bin");
    expect(vars).not.toContain(`PATH=${process.env.PATH}`);
    // Every process of the VM, read through /proc/<pid>/environ: only the VM's base variables.
    const all = await sidecar.exec(
      vmId,
      nodeEval(
        `const fs = require("fs"); const out = []; for (const p of fs.readdirSync("/proc")) { try { out.push(...fs.readFileSync("/proc/" + p + "/environ", "utf8").split("\\0").filter(Boolean)) } catch {} } console.log(JSON.stringify(out))`,
      ),
    );
    const entries: string[] = JSON.parse(all.stdout);
    expect(entries.length).toBeGreaterThan(0);
    expect(new Set(entries.map((e) => e.split("=")[0]))).toEqual(new Set([...BASE_NAMES, "PWD", "OLDPWD", "SHLVL"]));
    expect(entries).toContain("HOSTNAME=agentos");
    expect(entries).not.toContain(`HOME=${process.env.HOME}`);
    // The sidecar's own host pid is not a VM pid.
    const host = await sidecar.exec(vmId, nodeTry(`result = fs.readFileSync("/proc/${process.pid}/environ", "utf8")`));
    expect(host.stdout).toMatch(/^ERR .*ENOENT/);
    expect((await sidecar.exec(vmId, `cat /proc/${process.pid}/environ`)).exitCode).toBe(1);
    await expectStillServing(sidecar, bystander);
  });

  // Regression test (found by this suite, fixed in the sidecar): the Node runtime (@secure-exec/nodejs 0.2.1, _resolveNodeArgs) falls back to the HOST
  // filesystem for a script path starting with /root/node_modules/ that the VM does not have,
  // joining the rest onto the module folder without normalising it; the sidecar's
  // withScriptPathsFromCwd passes absolute paths through unchanged. `node
  // /root/node_modules/../../../<host path>` reads and runs any host file: host JavaScript runs
  // in the guest, and a non-JavaScript file leaks through the error ("ReferenceError: <first
  // word of the file> is not defined"). Expected: ENOENT ("Cannot find module"), nothing runs.
  it("`node /root/node_modules/../../<host path>` must not read or run a host file", async () => {
    const vmId = await sidecar.createVm();
    const up = "/root/node_modules/../../../../../..";
    const ran = await sidecar.exec(vmId, `node ${up}${hostDir}/evil.js`);
    const leaked = await sidecar.exec(vmId, `node ${up}${hostDir}/secret.txt`);
    await expectStillServing(sidecar, bystander);
    // Before the fix: "HOST SCRIPT RAN ..." on stdout, "ReferenceError: AGENTOS_HOSTILE_FILE_SECRET_7f3a is not defined".
    expect(ran.stdout).not.toContain("HOST SCRIPT RAN");
    expect(leaked.stderr).not.toContain(HOST_SECRET);
    expect(ran).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/Cannot find module/) });
  });

  // Regression test (found by this suite, fixed in the sidecar): `npm` and `npx` are commands of the Node runtime (@secure-exec/nodejs 0.2.1): guest
  // code starts them with child_process, and the runtime runs the HOST's npm CLI with a
  // filesystem that falls back to the host's for every read the VM cannot answer, with fs
  // permissions allow-all (kernel-runtime.js createHostFallbackVfs). Any host file is readable:
  // `npm config list --userconfig /etc/passwd` prints the host's /etc/passwd; `npm pkg get
  // --prefix <host dir>` reads a host package.json; /proc/<host pid>/environ gives the host's
  // environment. Expected: npm/npx are not available to the guest (or see only the VM).
  it("guest `npm` must not read host files", async () => {
    const vmId = await sidecar.createVm();
    const npm = (args: string[]) =>
      nodeEval(
        `const r = require("child_process").spawnSync("npm", ${JSON.stringify(args)}); console.log("status " + r.status); console.log(String(r.stdout))`,
      );
    const config = await sidecar.exec(vmId, npm(["config", "get", "stolen", "--userconfig", `${hostDir}/secret.ini`]));
    const passwd = await sidecar.exec(vmId, npm(["config", "list", "--userconfig", "/etc/passwd"]));
    await expectStillServing(sidecar, bystander);
    // Before the fix: "AGENTOS_HOSTILE_FILE_SECRET_7f3a" on stdout and the host's passwd entries ("root:x:0:0:...").
    expect(config.stdout).not.toContain(HOST_SECRET);
    expect(passwd.stdout).not.toMatch(/root:x:0:0/);
  });
});

describe("/etc/agentos is read-only to the guest", () => {
  let vmId: string;
  let original: string;
  beforeAll(async () => {
    vmId = await sidecar.createVm();
    original = await readVmFile(sidecar, vmId, INSTRUCTIONS);
    expect(original).toMatch(/^# You are running inside an agentOS VM/);
  });

  const expectUnchanged = async () => {
    expect(await readVmFile(sidecar, vmId, INSTRUCTIONS)).toBe(original);
    expect((await sidecar.call(methods.readdir, { vmId, path: "/etc/agentos" })).names).toEqual(["instructions.md"]);
  };

  it("refuses shell writes, removals and moves", async () => {
    for (const command of [`echo x > ${INSTRUCTIONS}`, `echo x >> ${INSTRUCTIONS}`]) {
      const result = await sidecar.exec(vmId, command);
      expect(result.exitCode, command).toBe(1);
      expect(result.stderr, command).toMatch(/failed to redirect to \/etc\/agentos\/instructions.md: Permission denied/);
    }
    for (const command of ["touch /etc/agentos/new", "mkdir /etc/agentos/sub"]) {
      const result = await sidecar.exec(vmId, command);
      expect(result.exitCode, command).toBe(1);
      expect(result.stderr, command).toMatch(/Permission denied/);
    }
    // The WebAssembly rm/mv report the refusal with a misleading message, but refuse.
    for (const command of [
      `rm ${INSTRUCTIONS}`,
      "rm -rf /etc/agentos",
      "mv /etc/agentos /tmp/x",
      "mv /etc /tmp/e",
      `mv ${INSTRUCTIONS} /tmp/i`,
    ]) {
      expect((await sidecar.exec(vmId, command)).exitCode, command).toBe(1);
    }
    await expectUnchanged();
    await expectStillServing(sidecar, bystander);
  });

  it("refuses Node writes, truncation, chmod, removals and renames with EACCES", async () => {
    const attempts: [string, RegExp][] = [
      [
        `fs.writeFileSync("${INSTRUCTIONS}", "x")`,
        /EACCES: permission denied, write '\/etc\/agentos\/instructions.md': \/etc\/agentos is read-only/,
      ],
      [`fs.appendFileSync("${INSTRUCTIONS}", "x")`, /EACCES: permission denied, write/],
      [`fs.writeSync(fs.openSync("${INSTRUCTIONS}", "r+"), "x")`, /^ERR EACCES EACCES: permission denied, write/],
      [`fs.truncateSync("${INSTRUCTIONS}", 0)`, /^ERR EACCES EACCES: permission denied, truncate/],
      [`fs.chmodSync("${INSTRUCTIONS}", 0o777)`, /^ERR EACCES EACCES: permission denied, chmod/],
      [`fs.unlinkSync("${INSTRUCTIONS}")`, /EACCES: permission denied, rm/],
      [`fs.rmSync("/etc/agentos", { recursive: true, force: true })`, /EACCES: permission denied, rm/],
      [`fs.renameSync("/etc/agentos", "/tmp/x")`, /EACCES: permission denied, rename/],
      [`fs.renameSync("/etc", "/tmp/e")`, /EACCES: permission denied, rename '\/etc': renaming \/etc would move \/etc\/agentos/],
      [`fs.renameSync("${INSTRUCTIONS}", "/tmp/i")`, /EACCES/],
      [
        `fs.mkdirSync("/etc/agentos/a/b", { recursive: true }); fs.writeFileSync("/etc/agentos/a/b/c", "x")`,
        /EACCES: permission denied, write/,
      ],
    ];
    for (const [body, error] of attempts) {
      const result = await sidecar.exec(vmId, nodeTry(body));
      expect(result.stdout, body).toMatch(error);
    }
    // The Node bridge reports a refused mkdirSync as success ("OK"), but nothing is created.
    await sidecar.exec(vmId, nodeTry(`fs.mkdirSync("/etc/agentos/sub")`));
    await expectUnchanged();
    await expectStillServing(sidecar, bystander);
  });

  it("refuses symbolic and hard links that would reach it, so nothing writes through them", async () => {
    const ln = await sidecar.exec(vmId, `ln -s ${INSTRUCTIONS} /tmp/l; echo symlink=$?; ln ${INSTRUCTIONS} /tmp/h; echo hardlink=$?`);
    expect(ln.stdout).toBe("symlink=1\nhardlink=1\n");
    // With the links refused these create plain files in /tmp.
    await sidecar.exec(vmId, "echo x > /tmp/l; echo x > /tmp/h");
    for (const [target, link] of [
      ["/", "/tmp/root"],
      ["/etc", "/tmp/etc-link"],
      ["/etc/agentos", "/tmp/agentos-link"],
      [INSTRUCTIONS, "/tmp/file-link"],
      ["../etc/agentos", "/tmp/relative-link"],
      ["agentos", "/etc/sibling-link"],
    ]) {
      const result = await sidecar.exec(vmId, nodeTry(`fs.symlinkSync("${target}", "${link}")`));
      expect(result.stdout, `${link} -> ${target}`).toMatch(/^ERR EACCES EACCES: permission denied, symlink/);
    }
    const hard = await sidecar.exec(vmId, nodeTry(`fs.linkSync("${INSTRUCTIONS}", "/tmp/h2")`));
    expect(hard.stdout).toMatch(/^ERR EACCES EACCES: permission denied, link/);
    // With the link refused, /tmp/root is no link: these writes create plain files below /tmp
    // (the VM's filesystem creates missing parent folders on write).
    await sidecar.exec(vmId, nodeTry(`fs.writeFileSync("/tmp/root/etc/agentos/instructions.md", "x")`));
    await sidecar.exec(vmId, "echo x > /tmp/root/etc/agentos/instructions.md");
    expect((await sidecar.call(methods.stat, { vmId, path: "/tmp/root" })).stat?.isSymbolicLink).toBe(false);
    await expectUnchanged();
    await expectStillServing(sidecar, bystander);
  });

  // Regression test (found by this suite, fixed in the sidecar): links are checked when created (vm.ts guardLinks, permissions.ts checkLink), resolving a
  // relative target against the link's folder, but not when renamed. A relative link made in
  // /tmp ("agentos" → /tmp/agentos, allowed) and renamed into /etc now resolves to /etc/agentos;
  // the kernel's fs hook sees only /etc/l/... and allows it. Observed: unlinkSync removes
  // /etc/agentos/instructions.md; `echo x > /etc/l/instructions.md` empties it. Expected: the
  // rename is refused with EACCES (or the policy resolves links) and the file stays.
  it("a relative symlink renamed into /etc must not reach /etc/agentos", async () => {
    const attacked = await sidecar.createVm();
    const before = await readVmFile(sidecar, attacked, INSTRUCTIONS);
    const result = await sidecar.exec(
      attacked,
      `${nodeTry(`fs.symlinkSync("agentos", "/tmp/l"); fs.renameSync("/tmp/l", "/etc/l"); fs.unlinkSync("/etc/l/instructions.md")`)}; ` +
        `${nodeTry(`fs.symlinkSync("agentos/instructions.md", "/tmp/f"); fs.renameSync("/tmp/f", "/etc/f")`)}; echo pwned > /etc/f`,
    );
    await expectStillServing(sidecar, bystander);
    // Before the fix: readdir(/etc/agentos) = [] (the guest removed the file), stdout "OK \nOK \n".
    expect((await sidecar.call(methods.readdir, { vmId: attacked, path: "/etc/agentos" })).names).toEqual(["instructions.md"]);
    expect(await readVmFile(sidecar, attacked, INSTRUCTIONS)).toBe(before);
    // The Node bridge keeps the errno of a refused rename in the message only (e.code is undefined).
    expect(result.stdout).toMatch(/^ERR .*EACCES/);
  });
});

describe("the fs permission scope (deny read of /secret/**)", () => {
  const SECRET = "SECRETKEY-41b9";
  const policy = { fs: [{ effect: PermissionEffect.DENY, pattern: "/secret/**", ops: ["read"] }] };
  let vmId: string;
  beforeAll(async () => {
    vmId = await sidecar.createVm({ permissions: policy });
    // The API is subject to the policy too: writing works (the rule denies reads only), reading does not.
    await sidecar.call(methods.writeFile, { vmId, path: "/secret/key", content: bytes(SECRET) });
  });

  it("refuses the API's read too", async () => {
    await expect(sidecar.call(methods.readFile, { vmId, path: "/secret/key" })).rejects.toMatchObject({
      code: "PERMISSION_DENIED",
      errno: "EACCES",
    });
  });

  it("refuses guest reads by cat, ls, cp, Node and links", async () => {
    const shell = await sidecar.exec(vmId, "cat /secret/key; echo cat=$?; ls /secret; echo ls=$?; cp /secret/key /tmp/copy; echo cp=$?");
    // The WebAssembly commands report the kernel's EACCES as "No such file or directory".
    expect(shell.stdout).toBe("cat=1\nls=2\ncp=1\n");
    expect(shell.stderr).toMatch(/cat: \/secret\/key: No such file or directory/);
    const attempts: [string, RegExp][] = [
      [`result = fs.readFileSync("/secret/key", "utf8")`, /^ERR EACCES EACCES: permission denied, open '\/secret\/key'/],
      [`result = fs.readdirSync("/secret")`, /EACCES: permission denied, readdir '\/secret': permissions.fs\[0\] denies read of \/secret/],
      [`fs.symlinkSync("/secret/key", "/tmp/k")`, /^ERR EACCES EACCES: permission denied, symlink/],
      [`fs.symlinkSync("/secret", "/tmp/s")`, /^ERR EACCES EACCES: permission denied, symlink/],
      [`fs.symlinkSync("/", "/tmp/root")`, /^ERR EACCES EACCES: permission denied, symlink/],
      [`fs.symlinkSync("../secret/key", "/tmp/rel")`, /^ERR EACCES EACCES: permission denied, symlink/],
      [`fs.linkSync("/secret/key", "/tmp/h")`, /^ERR EACCES EACCES: permission denied, link/],
    ];
    for (const [body, error] of attempts) {
      const result = await sidecar.exec(vmId, nodeTry(body));
      expect(result.stdout, body).toMatch(error);
    }
    const everything = await sidecar.exec(vmId, "cat /tmp/copy /tmp/k /tmp/s/key /tmp/h 2>&1");
    expect(everything.stdout).not.toContain(SECRET);
    await expectStillServing(sidecar, bystander);
  });

  // Regression test (found by this suite, fixed in the sidecar): a rename is checked as a write of the source (permissions.ts checkFs), and only folders
  // above paths the guest may not WRITE are guarded; /secret may be written, so the guest renames
  // the whole read-denied folder out from under the rule and reads it. Expected: EACCES.
  it("renaming the read-denied folder must not make it readable", async () => {
    const attacked = await sidecar.createVm({ permissions: policy });
    await sidecar.call(methods.writeFile, { vmId: attacked, path: "/secret/key", content: bytes(SECRET) });
    const result = await sidecar.exec(
      attacked,
      nodeTry(`fs.renameSync("/secret", "/tmp/moved"); result = fs.readFileSync("/tmp/moved/key", "utf8")`),
    );
    await expectStillServing(sidecar, bystander);
    // Before the fix: "OK SECRETKEY-41b9".
    expect(result.stdout).not.toContain(SECRET);
    // The Node bridge keeps the errno of a refused rename in the message only (e.code is undefined).
    expect(result.stdout).toMatch(/^ERR .*EACCES/);
  });

  // Regression test (found by this suite, fixed in the sidecar): same root cause as the /etc/agentos link bug: a relative link ("secret/key") made in
  // /tmp is allowed (it resolves to /tmp/secret/key), then renamed to / where it resolves to
  // /secret/key; reads through it are not checked against /secret/**. Expected: EACCES.
  it("a relative symlink renamed next to /secret must not read it", async () => {
    const attacked = await sidecar.createVm({ permissions: policy });
    await sidecar.call(methods.writeFile, { vmId: attacked, path: "/secret/key", content: bytes(SECRET) });
    const result = await sidecar.exec(
      attacked,
      `${nodeTry(`fs.mkdirSync("/tmp/x"); fs.symlinkSync("secret/key", "/tmp/x/k"); fs.renameSync("/tmp/x/k", "/k")`)}; cat /k`,
    );
    await expectStillServing(sidecar, bystander);
    // Before the fix: "OK \nSECRETKEY-41b9".
    expect(result.stdout).not.toContain(SECRET);
  });
});

describe("another VM's files", () => {
  it("are unreachable by any path from a second VM", async () => {
    const a = await sidecar.createVm();
    const b = await sidecar.createVm();
    await sidecar.exec(a, "echo A-ONLY-CONTENT > /tmp/a-secret");
    expect((await sidecar.exec(a, "cat /tmp/a-secret")).stdout).toBe("A-ONLY-CONTENT\n");
    const shell = await sidecar.exec(b, "cat /tmp/a-secret; echo cat=$?; ls /tmp; grep -rl A-ONLY-CONTENT /tmp /home");
    expect(shell.stdout).toBe("cat=1\n");
    expect(shell.stderr).toMatch(/No such file or directory/);
    const node = await sidecar.exec(
      b,
      nodeTry(`result = JSON.stringify([fs.existsSync("/tmp/a-secret"), fs.readdirSync("/tmp"), fs.readdirSync("/home/user")])`),
    );
    expect(node.stdout).toBe('OK [false,[],[".brush_history"]]\n');
    expect((await sidecar.call(methods.exists, { vmId: b, path: "/tmp/a-secret" })).exists).toBe(false);
    await expectStillServing(sidecar, bystander);
  });
});
