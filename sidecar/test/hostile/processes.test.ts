import { spawn } from "node:child_process";
import { methods, PermissionEffect } from "@agentos/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytes, TestSidecar, text } from "../harness.js";
import { expectStillServing, HEALTH_COMMAND, nodeEval, sleep, trackMax } from "./helpers.js";

// Hostile guest vs. processes: host environment, host binaries, the env and
// childProcess permission scopes, other VMs' processes, spawn bombs.

// Set before the sidecar starts, as a host secret would be.
process.env.AGENTOS_HOSTILE_SECRET = "s3cr3t";
const SECRET_NAME = "AGENTOS_HOSTILE_SECRET";

/** The VM's base environment (vm/base-environment.ts); shells add PWD, OLDPWD and SHLVL. */
const BASE_NAMES = ["HOME", "USER", "LOGNAME", "SHELL", "PATH", "TERM", "LANG", "TMPDIR", "HOSTNAME"];

let sidecar: TestSidecar;
let bystander: string;
beforeAll(async () => {
  sidecar = await TestSidecar.start();
  bystander = await sidecar.createVm();
});
afterAll(() => sidecar.stop());

const names = (envOutput: string) =>
  envOutput
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split("=")[0]);

const spawnedOutput = async (vmId: string, pid: number) => {
  await sidecar.call(methods.waitProcess, { vmId, pid });
  return text(Buffer.concat((await sidecar.collect(methods.onProcessStdout, { vmId, pid })).map((i) => i.data)));
};

describe("host environment", () => {
  it("never reaches the guest: env, Node's process.env, /proc, children, spawn", async () => {
    expect(process.env[SECRET_NAME]).toBe("s3cr3t");
    const vmId = await sidecar.createVm();
    const shell = await sidecar.exec(vmId, "env");
    expect(new Set(names(shell.stdout))).toEqual(new Set([...BASE_NAMES, "PWD", "OLDPWD", "SHLVL"]));
    const node = await sidecar.exec(vmId, nodeEval("console.log(JSON.stringify(process.env))"));
    expect(new Set(Object.keys(JSON.parse(node.stdout)))).toEqual(new Set([...BASE_NAMES, "PWD", "OLDPWD", "SHLVL"]));
    const proc = await sidecar.exec(
      vmId,
      nodeEval(`console.log(require("fs").readFileSync("/proc/self/environ", "utf8").split("\\0").join("\\n"))`),
    );
    expect(names(proc.stdout).filter((n) => !BASE_NAMES.includes(n))).toEqual(["PWD", "OLDPWD", "SHLVL"]);
    const child = await sidecar.exec(vmId, nodeEval(`console.log(String(require("child_process").execSync("env")))`));
    const { pid } = await sidecar.call(methods.spawn, { vmId, command: "sh", args: ["-c", "env"] });
    const spawned = await spawnedOutput(vmId, pid);
    for (const output of [shell.stdout, node.stdout, proc.stdout, child.stdout, spawned]) {
      expect(output).not.toContain(SECRET_NAME);
      expect(output).not.toContain("s3cr3t");
      expect(output).not.toContain(`PATH=${process.env.PATH}\n`);
    }
    await expectStillServing(sidecar, bystander);
  });

  it("passes configured variables through the env scope: PUBLIC_* allowed, everything else denied", async () => {
    const vmId = await sidecar.createVm({
      permissions: { env: [{ effect: PermissionEffect.ALLOW, pattern: "PUBLIC_*" }], defaults: { env: PermissionEffect.DENY } },
      env: { PUBLIC_A: "a", SECRET_B: "b" },
    });
    const shell = await sidecar.exec(vmId, "env");
    expect(shell.stdout).toContain("PUBLIC_A=a\n");
    expect(shell.stdout).not.toContain("SECRET_B");
    // The base variables always pass; the ones the shell adds (PWD, SHLVL, ...) are filtered too.
    expect(new Set(names(shell.stdout))).toEqual(new Set([...BASE_NAMES, "PUBLIC_A"]));
    const node = await sidecar.exec(vmId, nodeEval("console.log(JSON.stringify([process.env.PUBLIC_A, process.env.SECRET_B ?? null]))"));
    expect(node.stdout).toBe('["a",null]\n');
    // Per-call env is filtered the same way, for exec and for spawn.
    const perExec = await sidecar.exec(
      vmId,
      `echo "C=$SECRET_C D=$PUBLIC_D"; ${nodeEval("console.log(JSON.stringify([process.env.SECRET_C ?? null, process.env.PUBLIC_D]))")}`,
      { env: { SECRET_C: "c", PUBLIC_D: "d" } },
    );
    expect(perExec.stdout).toBe('C= D=d\n[null,"d"]\n');
    const { pid } = await sidecar.call(methods.spawn, { vmId, command: "sh", args: ["-c", "env"], env: { SECRET_C: "c", PUBLIC_E: "e" } });
    const spawned = await spawnedOutput(vmId, pid);
    expect(spawned).toContain("PUBLIC_E=e\n");
    expect(spawned).not.toContain("SECRET_C");
    // And the env a guest gives its own children.
    const nested = await sidecar.exec(
      vmId,
      nodeEval(`console.log(String(require("child_process").execSync("env", { env: { SECRET_X: "x", PUBLIC_Y: "y" } })))`),
    );
    expect(nested.stdout).toContain("PUBLIC_Y=y\n");
    expect(nested.stdout).not.toContain("SECRET_X");
    await expectStillServing(sidecar, bystander);
  });
  // Regression test (found by this suite, fixed in the sidecar): guest `npm` runs the host's npm CLI with a host-filesystem fallback (see
  // files.test.ts); /proc/<host pid>/environ is not a VM path, so it is read from the HOST:
  // the environment of any host process whose pid the guest names (or guesses) leaks.
  // Expected: npm is unavailable to the guest or sees only the VM.
  it("guest `npm` must not read a host process's environment", async () => {
    const host = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    try {
      const vmId = await sidecar.createVm();
      const stolen = await sidecar.exec(
        vmId,
        nodeEval(
          `const r = require("child_process").spawnSync("npm", ["config", "list", "--userconfig", "/proc/${host.pid}/environ"]); console.log(String(r.stdout))`,
        ),
      );
      await expectStillServing(sidecar, bystander);
      // Before the fix: the host process's whole environment, AGENTOS_HOSTILE_SECRET=s3cr3t included.
      expect(stolen.stdout).not.toContain("s3cr3t");
    } finally {
      host.kill();
    }
  });
});

describe("host binaries", () => {
  it("never run: /usr/bin/id, /bin/bash, execSync, dlopen and process.binding", async () => {
    const vmId = await sidecar.createVm();
    const spawnSync = (command: string, args: string[]) =>
      nodeEval(
        `const r = require("child_process").spawnSync("${command}", ${JSON.stringify(args)}); console.log(JSON.stringify({ status: r.status, out: String(r.stdout), err: String(r.stderr) }))`,
      );
    // /usr/bin/id resolves to the VM's own WebAssembly `id`, which knows no users.
    const id = JSON.parse((await sidecar.exec(vmId, spawnSync("/usr/bin/id", []))).stdout);
    expect(id).toEqual({ status: 1, out: "", err: "id: user database queries are not supported in WASM\n" });
    const bash = JSON.parse((await sidecar.exec(vmId, spawnSync("/bin/bash", ["-c", "id; cat /etc/passwd"]))).stdout);
    expect(bash.status).not.toBe(0);
    expect(bash.out).toBe("");
    const passwd = await sidecar.exec(
      vmId,
      nodeEval(
        `try { console.log(String(require("child_process").execSync("cat /etc/passwd"))) } catch (e) { console.log("ERR " + e.status + " " + e.message) }`,
      ),
    );
    expect(passwd.stdout).toBe("ERR 1 Command failed: cat /etc/passwd\n");
    const shell = await sidecar.exec(vmId, "/usr/bin/id; echo id=$?; /bin/bash -c id; echo bash=$?; id -u; echo idu=$?");
    expect(shell.stdout).toMatch(/^id=1\nbash=1\n/);
    const native = await sidecar.exec(
      vmId,
      nodeEval(
        `for (const f of [() => process.dlopen({ exports: {} }, "/lib/x86_64-linux-gnu/libc.so.6"), () => process.binding("spawn_sync")]) { try { f(); console.log("LOADED") } catch (e) { console.log("ERR " + e.message) } }`,
      ),
    );
    // Both refused by the runtime (its own message for process.binding ends in "... is not supported in <runtime>").
    expect(native.stdout).toMatch(/^ERR process\.dlopen is not supported\nERR process\.binding is not supported\b[^\n]*\n$/);
    for (const output of [JSON.stringify(bash), shell.stdout, shell.stderr, passwd.stdout]) {
      expect(output).not.toMatch(/uid=\d+/);
      expect(output).not.toMatch(/root:x:0:0/);
    }
    await expectStillServing(sidecar, bystander);
  });

  it("obey the childProcess scope: denying node refuses it from the shell, by path and through spawn", async () => {
    const vmId = await sidecar.createVm({ permissions: { childProcess: [{ effect: PermissionEffect.DENY, pattern: "node" }] } });
    // The client's exec runs `sh -c`, so this is the shell starting node.
    const direct = await sidecar.exec(vmId, "node -e 'console.log(1)'");
    expect(direct).toMatchObject({ exitCode: 126, stdout: "" });
    expect(direct.stderr).toMatch(/failed to execute command 'node': Permission denied/);
    const nested = await sidecar.exec(
      vmId,
      "sh -c 'node -e 1'; echo nested=$?; /usr/bin/node -e 1; echo path=$?; /bin/node -e 1; echo bin=$?",
    );
    expect(nested.stdout).toBe("nested=126\npath=126\nbin=126\n");
    expect(nested.stderr).toMatch(/failed to execute command '\/usr\/bin\/node': Permission denied/);
    await expect(sidecar.call(methods.spawn, { vmId, command: "node", args: ["-e", "1"] })).rejects.toMatchObject({
      code: "PERMISSION_DENIED",
      errno: "EACCES",
    });
    // Other commands still run.
    expect((await sidecar.exec(vmId, "sh -c 'echo still'")).stdout).toBe("still\n");
    await expectStillServing(sidecar, bystander);
  });
});

describe("another VM's processes", () => {
  it("are invisible: not in allProcesses, not in /proc, not signalable", async () => {
    const a = await sidecar.createVm();
    const b = await sidecar.createVm();
    const marker = "MARKER-OF-VM-A";
    const { pid } = await sidecar.call(methods.spawn, {
      vmId: a,
      command: "node",
      args: ["-e", `setInterval(() => {}, 1000) // ${marker}`],
    });
    const sleeper = await sidecar.call(methods.spawn, { vmId: a, command: "sleep", args: ["30"] });
    await sleep(300);
    const inB = (await sidecar.call(methods.allProcesses, { vmId: b })).processes;
    expect(JSON.stringify(inB)).not.toContain(marker);
    expect(inB.some((p) => p.args.includes("30"))).toBe(false);
    // `ps` is not part of the userland; /proc is what a guest would read.
    expect((await sidecar.exec(b, "ps")).exitCode).toBe(127);
    const proc = await sidecar.exec(
      b,
      nodeEval(
        `const fs = require("fs"); const seen = []; for (const p of fs.readdirSync("/proc")) { for (const f of ["cmdline", "environ"]) { try { seen.push(fs.readFileSync("/proc/" + p + "/" + f, "utf8")) } catch {} } } console.log(seen.join("|"))`,
      ),
    );
    expect(proc.stdout).not.toContain(marker);
    expect(proc.stdout).not.toContain("sleep\u000030");
    // Pids are per VM: B's pid numbers name B's own processes.
    await sidecar.call(methods.killProcess, { vmId: b, pid }).catch(() => {});
    await sidecar.call(methods.killProcess, { vmId: b, pid: sleeper.pid }).catch(() => {});
    expect((await sidecar.call(methods.getProcess, { vmId: a, pid })).process?.running).toBe(true);
    await sidecar.call(methods.killProcess, { vmId: a, pid });
    await sidecar.call(methods.killProcess, { vmId: a, pid: sleeper.pid });
    await expectStillServing(sidecar, bystander);
  });
});

describe("spawn bombs", () => {
  const running = async (vmId: string) =>
    (await sidecar.call(methods.allProcesses, { vmId })).processes.filter((p) => p.status === "running").length;

  it("are capped at limits.maxProcesses: a Node spawn loop gets EAGAIN", async () => {
    const vmId = await sidecar.createVm({ limits: { maxProcesses: 8 } });
    const peak = trackMax(() => running(vmId));
    const result = await sidecar.exec(
      vmId,
      nodeEval(
        `const cp = require("child_process"); const kids = []; let refused = 0, first = ""; for (let i = 0; i < 30; i++) { try { kids.push(cp.spawn("sleep", ["3"])) } catch (e) { refused++; first = first || e.message } } console.log(kids.length + " started, " + refused + " refused: " + first); kids.forEach((k) => k.kill())`,
      ),
    );
    expect(await peak.stop()).toBeLessThanOrEqual(8);
    // sh and node hold 2 of the 8 slots; the rest go to the first children, every later spawn throws.
    const [, started, refused] = /^(\d+) started, (\d+) refused: EAGAIN: maximum process limit reached\n$/.exec(result.stdout) ?? [];
    expect(Number(started)).toBeGreaterThan(0);
    expect(Number(started)).toBeLessThanOrEqual(6);
    expect(Number(started) + Number(refused)).toBe(30);
    await expectStillServing(sidecar, bystander);
  });

  it("are capped for the shell too: a long pipeline and a recursive Node bomb", async () => {
    const vmId = await sidecar.createVm({ limits: { maxProcesses: 8 } });
    const peak = trackMax(() => running(vmId));
    const pipeline = await sidecar.exec(vmId, `${Array(12).fill("sleep 1").join(" | ")}; echo rc=$?`);
    expect(pipeline.stdout).toBe("rc=126\n");
    expect(pipeline.stderr).toMatch(/failed to execute command 'sleep': Resource temporarily unavailable/);
    await sidecar.call(methods.writeFile, {
      vmId,
      path: "/tmp/bomb.js",
      content: bytes(`const cp = require("child_process");
const depth = Number(process.argv[process.argv.length - 1]) || 0;
if (depth < 4) for (let i = 0; i < 4; i++) {
  try { cp.spawn("node", ["/tmp/bomb.js", String(depth + 1)], { stdio: "inherit" }).on("error", () => {}); }
  catch (e) { console.log("REFUSED " + e.message); }
}
setTimeout(() => {}, 1000);
`),
    });
    const during = sidecar.exec(bystander, HEALTH_COMMAND);
    const bomb = await sidecar.exec(vmId, "node /tmp/bomb.js 0");
    expect(bomb.stdout).toMatch(/REFUSED EAGAIN: maximum process limit reached/);
    expect((await during).stdout).toBe("ok\n2\n");
    expect(await peak.stop()).toBeLessThanOrEqual(8);
    // The VM recovers once the bomb is gone.
    expect((await sidecar.exec(vmId, "echo recovered && node -e 'console.log(3)'")).stdout).toBe("recovered\n3\n");
    await expectStillServing(sidecar, bystander);
  });

  it.skipIf(!process.env.AGENTOS_SATURATION)(
    "a Node spawn loop at the default cap of 64 processes (run: AGENTOS_SATURATION=1 npx vitest run test/hostile)",
    async () => {
      const vmId = await sidecar.createVm();
      const peak = trackMax(() => running(vmId));
      const result = await sidecar.exec(
        vmId,
        nodeEval(
          `const cp = require("child_process"); const kids = []; let first = ""; for (let i = 0; i < 200; i++) { try { kids.push(cp.spawn("sleep", ["5"])) } catch (e) { first = first || e.message } } console.log(kids.length + " started: " + first); kids.forEach((k) => k.kill())`,
        ),
      );
      expect(await peak.stop()).toBeLessThanOrEqual(64);
      expect(result.stdout).toMatch(/^\d+ started: EAGAIN: maximum process limit reached\n$/);
      await expectStillServing(sidecar, bystander);
    },
  );
});
