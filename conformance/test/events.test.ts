import { methods } from "@agentos/proto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { SidecarUnderTest } from "../src/sidecar-under-test.js";

let sidecar: SidecarUnderTest;
let vmId: string;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

beforeAll(async () => {
  sidecar = await SidecarUnderTest.open();
  vmId = (await sidecar.call(methods.create, { config: {} as never })).vmId;
});
afterAll(() => sidecar.end());

it("delivers process output in order, every item before its stream's end, and the output before the exit", async () => {
  const script = "for i in 1 2 3 4 5 6 7 8 9 10; do echo line-$i; done; exit 3";
  const { pid } = await sidecar.call(methods.spawn, { vmId, command: "sh", args: ["-c", script] });
  const stdout = sidecar.stream(methods.onProcessStdout, { vmId, pid });
  const exit = sidecar.stream(methods.onProcessExit, { vmId, pid });
  await stdout.done;
  const exitItems = await exit.done;
  const lines = text(Buffer.concat(stdout.items.map((i) => i.data)))
    .trim()
    .split("\n");
  expect(lines).toEqual(Array.from({ length: 10 }, (_, i) => `line-${i + 1}`));
  expect(stdout.order.at(-1)).toBe("end");
  expect(stdout.order.filter((o) => o === "end")).toHaveLength(1);
  expect(exitItems).toEqual([{ exitCode: 3, limit: "" }]);
  expect(exit.order).toEqual(["item", "end"]);
});

it("orders stdout before the exit event when both are watched live", async () => {
  const { pid } = await sidecar.call(methods.spawn, {
    vmId,
    command: "node",
    args: ["-e", "setTimeout(() => { console.log('late line') }, 300)"],
  });
  const seen: string[] = [];
  const stdout = sidecar.stream(methods.onProcessStdout, { vmId, pid });
  const exit = sidecar.stream(methods.onProcessExit, { vmId, pid });
  void stdout.done.then(() => seen.push("stdout-end"));
  void exit.done.then(() => seen.push("exit-end"));
  await Promise.all([stdout.done, exit.done]);
  expect(text(Buffer.concat(stdout.items.map((i) => i.data)))).toBe("late line\n");
  expect(seen).toEqual(["stdout-end", "exit-end"]);
});

it("ends a stream the client cancels with exactly one response and no items after it", async () => {
  const { pid } = await sidecar.call(methods.spawn, { vmId, command: "node", args: ["-e", "setInterval(() => console.log('tick'), 50)"] });
  const stdout = sidecar.stream(methods.onProcessStdout, { vmId, pid });
  while (stdout.items.length < 2) await new Promise((r) => setTimeout(r, 20));
  stdout.cancel();
  await stdout.done;
  const count = stdout.items.length;
  await new Promise((r) => setTimeout(r, 300));
  expect(stdout.items.length).toBe(count);
  expect(stdout.order.filter((o) => o === "end")).toHaveLength(1);
  await sidecar.call(methods.killProcess, { vmId, pid });
});
