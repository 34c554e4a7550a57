import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, resolveLimits } from "./limits.js";

describe("resolveLimits", () => {
  it("bounds everything by default", () => {
    const limits = resolveLimits(undefined);
    expect(limits).toEqual(DEFAULT_LIMITS);
    for (const value of Object.values(limits)) {
      expect(Number.isFinite(value) && value > 0).toBe(true);
    }
    expect(limits.memoryMib).toBe(128);
  });

  it("takes raised limits", () => {
    expect(resolveLimits({ cpuTimeMs: 120_000, maxProcesses: 500 })).toMatchObject({
      cpuTimeMs: 120_000,
      maxProcesses: 500,
      memoryMib: 128,
    });
  });

  it("never takes zero or negative as unlimited", () => {
    expect(() => resolveLimits({ cpuTimeMs: 0 })).toThrow(/never unbounded/);
    expect(() => resolveLimits({ maxProcesses: -1 })).toThrow(/positive integer/);
  });

  it("takes lower fd and socket caps, and refuses fds above the runtime's own cap", () => {
    expect(resolveLimits({ maxOpenFiles: 10, maxSockets: 4 })).toMatchObject({ maxOpenFiles: 10, maxSockets: 4 });
    expect(() => resolveLimits({ maxOpenFiles: 257 })).toThrow(/at most 256/);
  });
});
