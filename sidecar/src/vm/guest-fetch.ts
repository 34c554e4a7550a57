import { RpcError } from "@agentos/proto";
import type { GuestPorts } from "./host-network.js";

export interface GuestRequest {
  port: number;
  method: string;
  path: string;
  headers: [string, string][];
  body: Uint8Array | undefined;
}

export interface GuestResponse {
  status: number;
  statusText: string;
  headers: [string, string][];
  body: Uint8Array;
}

/**
 * An HTTP request to a server listening inside the VM. Guest listeners are
 * bound to ephemeral host loopback ports; the guest port is looked up here.
 */
export async function fetchFromGuest(
  ports: GuestPorts,
  request: GuestRequest,
  options: { timeoutMs: number; maxBodyBytes: number },
): Promise<GuestResponse> {
  const hostPort = ports.hostPort(request.port);
  if (hostPort === undefined) {
    throw new RpcError("NOT_FOUND", `nothing listens on port ${request.port} inside the VM`, { errno: "ECONNREFUSED" });
  }
  if (!request.path.startsWith("/")) {
    throw new RpcError("INVALID_ARGUMENT", `fetch path "${request.path}" must start with "/"`);
  }
  let response: Response;
  try {
    response = await fetch(`http://127.0.0.1:${hostPort}${request.path}`, {
      method: request.method || "GET",
      headers: request.headers,
      body: request.body,
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (error) {
    const cause = (error as Error).name === "TimeoutError" ? "timed out" : (error as Error).message;
    throw new RpcError(
      (error as Error).name === "TimeoutError" ? "TIMEOUT" : "UNAVAILABLE",
      `fetch to port ${request.port} inside the VM failed: ${cause}`,
    );
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (response.body) {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > options.maxBodyBytes) {
        await response.body.cancel().catch(() => {});
        throw new RpcError("RESOURCE_EXHAUSTED", `response from port ${request.port} is larger than ${options.maxBodyBytes} bytes`, {
          limit: "max_output_bytes",
        });
      }
      chunks.push(chunk);
    }
  }
  return {
    status: response.status,
    statusText: response.statusText,
    headers: [...response.headers.entries()],
    body: Buffer.concat(chunks),
  };
}
