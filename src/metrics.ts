import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Registry, collectDefaultMetrics } from "prom-client";
import { BindError } from "./grpc/server";
import type { Logger } from "./logger";

const METRICS_PATH = "/metrics";

/**
 * A registry of its own per app rather than prom-client's global one, so
 * several servers (tests) can run in one process without clashing names.
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

export interface MetricsServer {
  /** The port actually bound (the ephemeral one for port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `registry` in the Prometheus text format at /metrics on its own HTTP port. */
export async function serveMetrics(registry: Registry, address: string, logger: Logger): Promise<MetricsServer> {
  const server = createServer((request, response) => void answer(registry, request, response, logger));
  const { host, port } = splitHostPort(address);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(new BindError(`cannot serve metrics on ${address}: ${error.message}`)));
    server.listen(port, host, resolve);
  });
  return {
    port: boundPort(server.address()),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function answer(
  registry: Registry,
  request: IncomingMessage,
  response: ServerResponse,
  logger: Logger,
): Promise<void> {
  if (request.method !== "GET" || new URL(request.url ?? "/", "http://metrics").pathname !== METRICS_PATH) {
    response.writeHead(404).end();
    return;
  }
  try {
    const body = await registry.metrics();
    response.writeHead(200, { "Content-Type": registry.contentType }).end(body);
  } catch (error) {
    logger.error({ err: error }, "cannot collect metrics");
    response.writeHead(500).end();
  }
}

function boundPort(address: AddressInfo | string | null): number {
  if (address === null || typeof address === "string") throw new Error("the metrics server is not listening on TCP");
  return address.port;
}

/** `[::1]:9464` and `127.0.0.1:9464` alike; config has already checked the shape. */
function splitHostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  return { host: address.slice(0, colon).replace(/^\[(.*)\]$/, "$1"), port: Number(address.slice(colon + 1)) };
}
