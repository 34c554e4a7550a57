import { type HostListener, type HostNetworkAdapter, type HostSocket, KernelError } from "@secure-exec/core";
import type { NetworkPolicy } from "./network-policy.js";

/**
 * The ports this VM's guests listen on, and the host port serving each (for
 * AgentOs.fetch, which only reaches this VM's own listeners). Guest
 * listeners bind the port they ask for, on the host's loopback only: the
 * Node runtime serves a guest's request to its own VM's listener through
 * the host stack at that port, so the port cannot be moved elsewhere.
 */
export class GuestPorts {
  private readonly hostPortByGuestPort = new Map<number, number>();

  hostPort(guestPort: number): number | undefined {
    return this.hostPortByGuestPort.get(guestPort);
  }

  set(guestPort: number, hostPort: number): void {
    this.hostPortByGuestPort.set(guestPort, hostPort);
  }

  delete(guestPort: number, hostPort: number): void {
    if (this.hostPortByGuestPort.get(guestPort) === hostPort) this.hostPortByGuestPort.delete(guestPort);
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
      return inner.tcpConnect(host, port);
    },
    async tcpListen(host: string, port: number): Promise<HostListener> {
      const decision = policy.decide("listen", host, port);
      if (!decision.allow) deny("listen", decision.reason);
      // Loopback only, whatever address the guest asked for.
      const listener = await inner.tcpListen("127.0.0.1", port);
      const guestPort = port === 0 ? listener.port : port;
      ports.set(guestPort, listener.port);
      return {
        accept: () => listener.accept(),
        close: async () => {
          ports.delete(guestPort, listener.port);
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
      return inner.udpSend(socket, data, host, port);
    },
    async dnsLookup(hostname, rrtype) {
      const decision = policy.decide("dns", hostname);
      if (!decision.allow) deny("dns", decision.reason);
      return inner.dnsLookup(hostname, rrtype);
    },
  };
}
