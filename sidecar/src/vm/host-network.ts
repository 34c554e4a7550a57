import { isIP } from "node:net";
import { type HostListener, type HostNetworkAdapter, type HostSocket, KernelError } from "@secure-exec/core";
import { answerNextLookup } from "./dns-overrides.js";
import type { NetworkPolicy } from "./network-policy.js";

/**
 * The ports this VM's guests listen on (AgentOs.fetch reaches only these).
 * Guest listeners bind the port they ask for, on the host's loopback only:
 * the Node runtime serves a guest's request to its own VM's listener
 * through the host stack at that port, so the port cannot be moved.
 */
export class GuestPorts {
  private readonly listening = new Set<number>();

  has(port: number): boolean {
    return this.listening.has(port);
  }

  add(port: number): void {
    this.listening.add(port);
  }

  delete(port: number): void {
    this.listening.delete(port);
  }
}

/**
 * Wraps secure-exec's host network adapter with the VM's policy. The
 * kernel's own permission hook sees only host names; the exact host:port
 * check happens here, where every external connection passes.
 */
export function createPolicyNetworkAdapter(inner: HostNetworkAdapter, policy: NetworkPolicy, ports: GuestPorts): HostNetworkAdapter {
  const deny = (op: string, reason: string): never => {
    throw new KernelError("EACCES", `network ${op} denied: ${reason}`);
  };
  return {
    async tcpConnect(host: string, port: number): Promise<HostSocket> {
      const decision = policy.decide("connect", host, port);
      if (!decision.allow) deny("connect", decision.reason);
      const address = policy.override(host);
      // The Node runtime's http/fetch follow this connect with a direct one
      // that resolves on the host (see dns-overrides.ts).
      if (address) answerNextLookup(host, address);
      return inner.tcpConnect(address ?? host, port);
    },
    async tcpListen(host: string, port: number): Promise<HostListener> {
      const decision = policy.decide("listen", host, port);
      if (!decision.allow) deny("listen", decision.reason);
      // Loopback only, whatever address the guest asked for.
      const listener = await inner.tcpListen("127.0.0.1", port);
      ports.add(listener.port);
      return {
        accept: () => listener.accept(),
        close: async () => {
          ports.delete(listener.port);
          await listener.close();
        },
        get port() {
          return listener.port;
        },
      };
    },
    udpBind: (host, port) => inner.udpBind(host, port),
    async udpSend(socket, data, host, port) {
      const decision = policy.decide("connect", host, port);
      if (!decision.allow) deny("send", decision.reason);
      return inner.udpSend(socket, data, policy.override(host) ?? host, port);
    },
    async dnsLookup(hostname, rrtype) {
      const decision = policy.decide("dns", hostname);
      if (!decision.allow) deny("dns", decision.reason);
      const address = policy.override(hostname);
      if (address) return { address, family: isIP(address) === 6 ? 6 : 4 };
      return inner.dnsLookup(hostname, rrtype);
    },
  };
}
