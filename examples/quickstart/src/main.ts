// agentOS quickstart: everything below runs inside a VM owned by the agentOS
// sidecar, which AgentOs.create() starts for you.
import { pathToFileURL } from "node:url";
import pi from "@agentos/agent-pi";
import { AgentOs, hostTool, toolKit } from "@agentos/client";
import { type MockModel, piEnv, startMockModel } from "@agentos/mock-model";
import { z } from "zod";

const HAIKU = "Small VM hums on,\nan agent writes in its room,\nthe host sleeps soundly.\n";
const PROMPT = "Write a haiku about virtual machines to /home/user/haiku.txt with your write tool.";

export interface QuickstartResult {
  pipeline: string;
  nodeOutput: string;
  report: { sum: number; words: string[] };
  ticks: string[];
  exitCode: number;
  tool: { stdout: string; received: { text: string; tags: string[] }[] };
  agent: { offline: boolean; text: string; haiku: string; permissionsAsked: number };
}

export async function quickstart(log: (line: string) => void = console.log): Promise<QuickstartResult> {
  // The agent part talks to Anthropic when ANTHROPIC_API_KEY is set; without
  // it, to a local mock model server with a scripted tool call (offline).
  const apiKey = process.env.ANTHROPIC_API_KEY;
  const model: MockModel | undefined = apiKey
    ? undefined
    : await startMockModel([
        {
          prompt: "haiku",
          toolCall: { name: "write", input: { path: "/home/user/haiku.txt", content: HAIKU } },
          text: "I wrote a haiku to /home/user/haiku.txt.",
        },
      ]);

  // A host tool: JavaScript of this program that code in the VM (and the
  // agent) runs as the command `agentos-notes save --text ...`.
  const received: { text: string; tags: string[] }[] = [];
  const notes = toolKit({
    name: "notes",
    description: "Notes kept by the host program",
    tools: {
      save: hostTool({
        description: "Saves a note on the host",
        inputSchema: z.object({ text: z.string().describe("the note"), tags: z.array(z.string()).default([]) }),
        execute: ({ text, tags }) => {
          received.push({ text, tags });
          return { saved: received.length };
        },
      }),
    },
  });

  // 1. A VM with the common POSIX command set, Node, the Pi agent and the
  //    notes tool. Its network allows the model provider and nothing else.
  const vm = await AgentOs.create({
    software: [pi],
    toolKits: [notes],
    permissions: { network: [{ effect: "allow", pattern: model ? model.hostPort : "api.anthropic.com:443" }] },
  });
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

    // 5. The VM calls back into this program through the host tool.
    const tool = await vm.exec("agentos-notes save --text 'hello from the VM' --tags demo");
    log(`agentos-notes save -> ${tool.stdout.trim()} (the host got ${JSON.stringify(received[0])})`);

    // 6. A process whose output streams back while it runs.
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

    // 7. An agent session: Pi runs inside the VM, asks before it writes, and
    //    its updates stream back while the prompt runs.
    const { sessionId } = await vm.createSession("pi", {
      env: model ? piEnv(model) : { ANTHROPIC_API_KEY: apiKey as string },
    });
    log(`agent session ${sessionId} is ready (${model ? "offline, mock model" : "Anthropic"})`);
    let permissionsAsked = 0;
    vm.onPermissionRequest(sessionId, (request) => {
      permissionsAsked++;
      log(`agent asks: ${request.description} -> allowed once`);
      void vm.respondPermission(sessionId, request.permissionId, "once");
    });
    vm.onSessionEvent(sessionId, (event) => {
      const update = (event.params as { update: { sessionUpdate: string; title?: string; status?: string } }).update;
      if (update.sessionUpdate === "tool_call") log(`agent tool call: ${update.title}`);
    });
    const answer = await vm.prompt(sessionId, PROMPT);
    const haiku = new TextDecoder().decode(await vm.readFile("/home/user/haiku.txt"));
    log(`agent -> ${answer.text.trim()} (${(answer.response.result as { stopReason: string }).stopReason})`);
    log(`haiku.txt ->\n${haiku.trimEnd()}`);
    await vm.closeSession(sessionId);

    return {
      pipeline: pipeline.stdout,
      nodeOutput: node.stdout,
      report,
      ticks,
      exitCode,
      tool: { stdout: tool.stdout, received },
      agent: { offline: model !== undefined, text: answer.text, haiku, permissionsAsked },
    };
  } finally {
    // 8. Dispose: every process and session of the VM ends; the sidecar exits with its last VM.
    await vm.dispose();
    await model?.stop();
    log("VM disposed");
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  quickstart().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
