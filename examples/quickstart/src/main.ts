// agentOS quickstart: everything below runs inside a VM owned by the agentOS
// sidecar, which AgentOs.create() starts for you.
import { pathToFileURL } from "node:url";
import { AgentOs } from "@agentos/client";

export interface QuickstartResult {
  pipeline: string;
  nodeOutput: string;
  report: { sum: number; words: string[] };
  ticks: string[];
  exitCode: number;
}

export async function quickstart(log: (line: string) => void = console.log): Promise<QuickstartResult> {
  // 1. A VM with the common POSIX command set and Node.
  const vm = await AgentOs.create();
  log(`VM ${vm.vmId} is up`);
  try {
    // 2. A shell pipeline, run by the VM's own WebAssembly shell and tools.
    const pipeline = await vm.exec("printf 'banana\\napple\\ncherry\\n' | grep a | tr a-z A-Z");
    log(`pipeline -> ${pipeline.stdout.trim().replace(/\n/g, ", ")}`);

    // 3. A Node script, written into the VM, that writes a file.
    await vm.writeFile(
      "/home/user/report.mjs",
      [
        'import { writeFileSync } from "node:fs";',
        'const words = (process.env.WORDS ?? "").split(",");',
        "const report = { sum: [1, 2, 3, 4].reduce((a, b) => a + b, 0), words };",
        'writeFileSync("/home/user/report.json", JSON.stringify(report));',
        'console.log("report written with " + words.length + " words");',
      ].join("\n"),
    );
    const node = await vm.exec("node report.mjs", { env: { WORDS: "alpha,beta,gamma" } });
    log(`node -> ${node.stdout.trim()}`);

    // 4. Read the file back out of the VM.
    const report = JSON.parse(new TextDecoder().decode(await vm.readFile("/home/user/report.json")));
    log(`report.json -> ${JSON.stringify(report)}`);

    // 5. A process whose output streams back while it runs.
    const { pid } = await vm.spawn("node", [
      "-e",
      'let i = 0; const t = setInterval(() => { console.log("tick " + ++i); if (i === 3) clearInterval(t); }, 100);',
    ]);
    const ticks: string[] = [];
    vm.onProcessStdout(pid, (data) => {
      for (const line of new TextDecoder().decode(data).split("\n").filter(Boolean)) {
        ticks.push(line);
        log(`process ${pid} says: ${line}`);
      }
    });
    const exitCode = await vm.waitProcess(pid);
    log(`process ${pid} exited with ${exitCode}`);

    return { pipeline: pipeline.stdout, nodeOutput: node.stdout, report, ticks, exitCode };
  } finally {
    // 6. Dispose: every process of the VM ends; the sidecar exits with its last VM.
    await vm.dispose();
    log("VM disposed");
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  quickstart().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
