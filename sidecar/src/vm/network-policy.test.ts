import { NetworkRule_Effect } from "@agentos/proto";
import { describe, expect, it } from "vitest";
import { NetworkPolicy } from "./network-policy.js";

describe("NetworkPolicy", () => {
  it("denies egress and dns by default and allows loopback listeners", () => {
    const policy = NetworkPolicy.fromConfig({});
    expect(policy.decide("connect", "127.0.0.1", 8080).allow).toBe(false);
    expect(policy.decide("connect", "example.com", 443).reason).toMatch(/denied by default/);
    expect(policy.decide("dns", "example.com").allow).toBe(false);
    expect(policy.decide("listen", "0.0.0.0", 3000).allow).toBe(true);
  });

  it("allows exactly the listed host:port", () => {
    const policy = NetworkPolicy.fromConfig({ allow: ["127.0.0.1:8080", "*.example.com:443", "api.test:*"] });
    expect(policy.decide("connect", "127.0.0.1", 8080).allow).toBe(true);
    expect(policy.decide("connect", "127.0.0.1", 8081).allow).toBe(false);
    expect(policy.decide("connect", "a.example.com", 443).allow).toBe(true);
    expect(policy.decide("connect", "example.com", 443).allow).toBe(false);
    expect(policy.decide("connect", "API.TEST", 1).allow).toBe(true);
    expect(policy.decide("dns", "a.example.com").allow).toBe(true);
  });

  it("lets a port-specific allow through the kernel's port-less check, but not a port-specific deny alone", () => {
    const policy = NetworkPolicy.fromConfig({
      rules: [
        { effect: NetworkRule_Effect.DENY, pattern: "10.0.0.1:22", ops: [] },
        { effect: NetworkRule_Effect.ALLOW, pattern: "10.0.0.1:*", ops: ["connect"] },
      ],
    });
    expect(policy.decide("connect", "10.0.0.1").allow).toBe(true);
    expect(policy.decide("connect", "10.0.0.1", 22).allow).toBe(false);
    expect(policy.decide("connect", "10.0.0.1", 80).allow).toBe(true);
  });

  it("evaluates rules in order, first match wins", () => {
    const policy = NetworkPolicy.fromConfig({
      rules: [{ effect: NetworkRule_Effect.DENY, pattern: "*:*", ops: ["listen"] }],
      allow: ["*:*"],
    });
    expect(policy.decide("listen", "127.0.0.1", 80).allow).toBe(false);
    expect(policy.decide("connect", "anything", 1).allow).toBe(true);
  });

  it("turns loopbackExemptPorts into loopback allows", () => {
    const policy = NetworkPolicy.fromConfig({ loopbackExemptPorts: [9000] });
    expect(policy.decide("connect", "127.0.0.1", 9000).allow).toBe(true);
    expect(policy.decide("connect", "localhost", 9000).allow).toBe(true);
    expect(policy.decide("connect", "10.1.1.1", 9000).allow).toBe(false);
  });

  it("rejects malformed rules with a clear message", () => {
    expect(() => NetworkPolicy.fromConfig({ allow: ["no-port"] })).toThrow(/is not "host:port"/);
    expect(() => NetworkPolicy.fromConfig({ allow: ["a.*.com:1"] })).toThrow(/first label/);
    expect(() => NetworkPolicy.fromConfig({ allow: ["x:70000"] })).toThrow(/1-65535/);
    expect(() => NetworkPolicy.fromConfig({ rules: [{ effect: NetworkRule_Effect.UNSPECIFIED, pattern: "x:1", ops: [] }] })).toThrow(
      /allow" or "deny/,
    );
    expect(() => NetworkPolicy.fromConfig({ rules: [{ effect: NetworkRule_Effect.ALLOW, pattern: "x:1", ops: ["bind"] }] })).toThrow(
      /connect, listen or dns/,
    );
    expect(() => NetworkPolicy.fromConfig({ loopbackExemptPorts: [0] })).toThrow(/port number/);
  });
});
