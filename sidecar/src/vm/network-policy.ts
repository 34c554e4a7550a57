import { isIP } from "node:net";
import { type NetworkRule, NetworkRule_Effect } from "@agentos/proto";
import { invalidArgument } from "../errors.js";

export type NetworkOp = "connect" | "listen" | "dns";
const OPS: readonly NetworkOp[] = ["connect", "listen", "dns"];

interface Rule {
  allow: boolean;
  /** "*", "*.suffix" or an exact lower-case host. */
  host: string;
  port: number | "*";
  ops: ReadonlySet<NetworkOp>;
  source: string;
}

export interface Decision {
  allow: boolean;
  reason: string;
}

/**
 * What guest code may reach. Rules are evaluated in order and the first
 * match decides; without a match, connect and dns are denied and listen is
 * allowed (guest listeners are only ever bound to the host's loopback).
 */
export class NetworkPolicy {
  private constructor(
    private readonly rules: readonly Rule[],
    /** Without a matching rule: undefined = the built-in default. */
    private readonly fallback: boolean | undefined,
    private readonly overrides: ReadonlyMap<string, string>,
  ) {}

  /**
   * Order: permissions.network rules as given, then network.allow, then
   * loopbackExemptPorts.
   */
  static fromConfig(config: {
    rules?: NetworkRule[];
    allow?: string[];
    loopbackExemptPorts?: number[];
    /** The scope's default when no rule matches (undefined: the built-in one). */
    defaultAllow?: boolean;
    dnsOverrides?: Record<string, string>;
  }): NetworkPolicy {
    const rules: Rule[] = [];
    for (const [i, rule] of (config.rules ?? []).entries()) {
      const where = `permissions.network[${i}]`;
      if (rule.effect !== NetworkRule_Effect.ALLOW && rule.effect !== NetworkRule_Effect.DENY) {
        throw invalidArgument(`${where}.effect must be "allow" or "deny"`);
      }
      const ops = rule.ops.length === 0 ? OPS : rule.ops.map((op) => parseOp(op, where));
      rules.push({
        allow: rule.effect === NetworkRule_Effect.ALLOW,
        ...parsePattern(rule.pattern, where),
        ops: new Set(ops),
        source: where,
      });
    }
    for (const [i, pattern] of (config.allow ?? []).entries()) {
      const where = `network.allow[${i}]`;
      rules.push({ allow: true, ...parsePattern(pattern, where), ops: new Set<NetworkOp>(["connect", "dns"]), source: where });
    }
    for (const [i, port] of (config.loopbackExemptPorts ?? []).entries()) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw invalidArgument(`loopbackExemptPorts[${i}] must be a port number (1-65535), got ${port}`);
      }
      for (const host of ["127.0.0.1", "localhost", "::1"]) {
        rules.push({ allow: true, host, port, ops: new Set<NetworkOp>(["connect", "dns"]), source: `loopbackExemptPorts[${i}]` });
      }
    }
    const overrides = new Map<string, string>();
    for (const [name, address] of Object.entries(config.dnsOverrides ?? {})) {
      if (!isIP(address)) throw invalidArgument(`network.dnsOverrides["${name}"] must be an IP address, got "${address}"`);
      overrides.set(normaliseHost(name), address);
    }
    return new NetworkPolicy(rules, config.defaultAllow, overrides);
  }

  /** The address a DNS override gives `host`, if any. */
  override(host: string): string | undefined {
    return this.overrides.get(normaliseHost(host));
  }

  decide(op: NetworkOp, rawHost: string, port?: number): Decision {
    const host = normaliseHost(rawHost);
    for (const rule of this.rules) {
      if (!rule.ops.has(op) || !hostMatches(rule.host, host)) continue;
      if (port === undefined && rule.port !== "*") {
        // The kernel's early check knows no port. A rule for one port cannot
        // decide it: an allow lets the connection go on to the adapter, which
        // checks host:port; a deny for one port leaves other ports open.
        if (rule.allow) return { allow: true, reason: `${rule.source} may allow ${host}` };
        continue;
      }
      if (port !== undefined && rule.port !== "*" && rule.port !== port) continue;
      return { allow: rule.allow, reason: `${rule.source} ${rule.allow ? "allows" : "denies"} ${op} to ${target(host, port)}` };
    }
    if (this.fallback !== undefined) {
      return {
        allow: this.fallback,
        reason: `${op} to ${target(host, port)} is ${this.fallback ? "allowed" : "denied"} by the network default`,
      };
    }
    if (op === "listen") return { allow: true, reason: "listening on the host loopback is allowed by default" };
    return {
      allow: false,
      reason: `no rule allows ${op} to ${target(host, port)}; egress is denied by default (allow it with network.allow or permissions.network)`,
    };
  }
}

function target(host: string, port?: number): string {
  return port === undefined ? host : host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function parseOp(op: string, where: string): NetworkOp {
  if ((OPS as readonly string[]).includes(op)) return op as NetworkOp;
  throw invalidArgument(`${where}.ops contains "${op}"; use connect, listen or dns`);
}

function parsePattern(pattern: string, where: string): { host: string; port: number | "*" } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\*|\d{1,5})$/.exec(pattern.trim());
  if (!match) {
    throw invalidArgument(`${where} "${pattern}" is not "host:port" (host may be "*" or "*.example.com", port may be "*")`);
  }
  const host = normaliseHost(match[1] ?? match[2]);
  if (host.includes("*") && host !== "*" && !(host.startsWith("*.") && !host.slice(2).includes("*"))) {
    throw invalidArgument(`${where} "${pattern}": "*" may only be the whole host or its first label ("*.example.com")`);
  }
  if (match[3] === "*") return { host, port: "*" };
  const port = Number(match[3]);
  if (port < 1 || port > 65535) throw invalidArgument(`${where} "${pattern}": port must be 1-65535`);
  return { host, port };
}

function normaliseHost(host: string): string {
  const lower = host.toLowerCase().replace(/\.$/, "");
  return isIP(lower) === 6 && lower.startsWith("[") ? lower.slice(1, -1) : lower;
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern === "*") return true;
  if (pattern.startsWith("*.")) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return pattern === host;
}
