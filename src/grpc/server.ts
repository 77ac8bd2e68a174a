import {
  Server,
  setLogger,
  type ServerCredentials,
  type ServerInterceptor,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { Logger } from "../logger";

export interface ServiceRegistration {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

export class BindError extends Error {}

export interface GrpcServerOptions {
  /**
   * Run around every call to a registered method. grpc-js wraps them in
   * order: the first is innermost, next to the transport, and the last
   * outermost, next to the handler.
   */
  interceptors?: readonly ServerInterceptor[];
}

/** Creates a grpc-js server with our services registered. */
export function createGrpcServer(services: readonly ServiceRegistration[], options: GrpcServerOptions = {}): Server {
  const server = new Server({
    // Ping idle clients, and drop those that stop answering.
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    interceptors: [...(options.interceptors ?? [])],
  });
  for (const { definition, implementation } of services) server.addService(definition, implementation);
  return server;
}

/** Binds and returns the port actually bound (the ephemeral one for port 0). */
export function bind(server: Server, address: string, credentials: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (error, port) => {
      if (error === null) resolve(port);
      else reject(new BindError(`cannot listen on ${address}: ${error.message}`, { cause: error }));
    });
  });
}

/**
 * Stops accepting calls, lets in-flight ones finish for up to `graceMs`, then
 * cancels whatever is still running. Resolves once every call has ended.
 */
export function shutdownGracefully(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const deadline = setTimeout(() => server.forceShutdown(), graceMs);
    server.tryShutdown(() => {
      clearTimeout(deadline);
      resolve();
    });
  });
}

/**
 * grpc-js prints its own diagnostics to stderr, outside our JSON lines. In this
 * server they repeat what we report anyway (a failed bind is our "cannot start"
 * line) or describe a client's malformed metadata, so they stay at debug level
 * instead of making a second, unstructured error line.
 */
export function logGrpcJsDiagnostics(logger: Logger): void {
  const log = (...parts: unknown[]) => logger.debug({ component: "grpc-js" }, parts.map(String).join(" "));
  setLogger({ error: log, info: log, debug: log });
}
