import { afterAll, beforeAll, expect, it } from "vitest";
import { TestSidecar } from "./harness.js";

let sidecar: TestSidecar;
beforeAll(async () => {
  sidecar = await TestSidecar.start();
});
afterAll(() => sidecar.stop());

// No limits configured and no options on the call: the defaults alone end
// a runaway (limits.execTimeoutMs = limits.cpuTimeMs = 30 s).
it('ends `node -e "for(;;){}"` by itself under the default limits', async () => {
  const vmId = await sidecar.createVm();
  const started = Date.now();
  await expect(sidecar.exec(vmId, 'node -e "for(;;){}"')).rejects.toMatchObject({ code: "TIMEOUT" });
  const elapsed = Date.now() - started;
  expect(elapsed).toBeGreaterThanOrEqual(29_000);
  expect(elapsed).toBeLessThan(45_000);
  expect((await sidecar.exec(vmId, "echo alive")).stdout).toBe("alive\n");
}, 90_000);
