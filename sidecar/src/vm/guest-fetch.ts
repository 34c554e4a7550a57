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
 * An HTTP request to a server listening inside this VM (guest listeners are
 * bound on the host's loopback at the port they asked for).
 */
export async function fetchFromGuest(
  ports: GuestPorts,
  request: GuestRequest,
  options: { timeoutMs: number; maxBodyBytes: number },
): Promise<GuestResponse> {
  if (!ports.has(request.port)) {
    throw new RpcError("NOT_FOUND", `nothing listens on port ${request.port} inside the VM`, { errno: "ECONNREFUSED" });
  }
  if (!request.path.startsWith("/")) {
    throw new RpcError("INVALID_ARGUMENT", `fetch path "${request.path}" must start with "/"`);
  }
  let response: Response;
  try {
    response = await fetch(`http://127.0.0.1:${request.port}${request.path}`, {
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
