import dns from "node:dns";
import { syncBuiltinESMExports } from "node:module";
import { isIP } from "node:net";

/**
 * DNS overrides (network.dnsOverrides) where secure-exec resolves on the host.
 *
 * Connections through the kernel's sockets are redirected by the VM's
 * policy adapter. But secure-exec 0.2.1 also resolves with the host's
 * resolver in two places: a guest's `dns.lookup()` (answered right after
 * the VM's permission hook, in the same synchronous step) and its
 * `http`/`fetch` requests, which after the kernel socket's (checked)
 * connect open a second, direct host connection to the same host:port.
 * The VM side knows the override; the host resolver does not. So the VM
 * announces "the next lookup of this name answers this address" and a
 * wrapper of `dns.lookup` takes the announcement on the next lookup of
 * that name within a short time. Names without an announcement go to the
 * host resolver untouched.
 */
const ANNOUNCEMENT_TTL_MS = 1_000;
const pending = new Map<string, { address: string; expires: number }[]>();
let installed = false;

export function answerNextLookup(hostname: string, address: string): void {
  install();
  const queue = pending.get(hostname) ?? [];
  queue.push({ address, expires: Date.now() + ANNOUNCEMENT_TTL_MS });
  pending.set(hostname, queue);
}

function take(hostname: string): string | undefined {
  const queue = pending.get(hostname);
  if (!queue) return undefined;
  const now = Date.now();
  let entry = queue.shift();
  while (entry && entry.expires < now) entry = queue.shift();
  if (queue.length === 0) pending.delete(hostname);
  return entry?.address;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

function install(): void {
  if (installed) return;
  installed = true;
  const original = dns.lookup as (...args: unknown[]) => unknown;
  const lookup = function (this: unknown, hostname: string, options: unknown, callback?: unknown) {
    const address = typeof hostname === "string" ? take(hostname) : undefined;
    if (address === undefined) return original.apply(this, callback === undefined ? [hostname, options] : [hostname, options, callback]);
    const done = (typeof options === "function" ? options : callback) as LookupCallback;
    const all = typeof options === "object" && options !== null && (options as { all?: boolean }).all === true;
    const family = isIP(address);
    process.nextTick(() => (all ? done(null, [{ address, family }]) : done(null, address, family)));
    return {};
  };
  (dns as { lookup: unknown }).lookup = lookup;
  syncBuiltinESMExports();
}
