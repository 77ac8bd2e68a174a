import { createServer, type Server as NetServer, type Socket } from "node:net";
import {
  Server,
  ServerInterceptingCall,
  setLogger,
  type ServerCredentials,
  type ServerInterceptor,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from "../config";
import type { Logger } from "../logger";
import { ConnectionGuard, http2ServersOf, newHttp2Server } from "./connection-guard";
import { UnavailableError } from "../errors";
import { endingStalledStreams } from "./stalled-streams";
import { toServiceError } from "./status";
import { boundedMessage, quoteClientValue } from "../client-text";

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
  /** What one connection and each stream on it may hold, and for how long; DEFAULT_CONNECTION_LIMITS when unset. */
  limits?: ConnectionLimits;
}

type CallStatus = Parameters<ServerInterceptingCall["sendStatus"]>[0];

/** What a call still running when the server stops is told: retry, elsewhere or later (reason SERVER_SHUTTING_DOWN). */
const SHUT_DOWN: CallStatus = (({ code, details, metadata }) => ({ code, details, metadata }))(toServiceError(UnavailableError.shutDown()));

/**
 * A grpc-js server that listens on sockets of its own, so that stopping it
 * can drop the connections. grpc-js's forceShutdown resets each call with
 * CANCEL instead, which its clients report as CANCELLED: a call that is not
 * worth retrying. A dropped connection is UNAVAILABLE to every gRPC client,
 * and so is the status sent to each call, when it can still get through.
 */
export class GrpcServer extends Server {
  private readonly openCalls: OpenCalls;
  private readonly connections = new Connections();
  private readonly guard: ConnectionGuard;

  constructor(options: GrpcServerOptions) {
    const limits = options.limits ?? DEFAULT_CONNECTION_LIMITS;
    const openCalls = new OpenCalls();
    const guard = new ConnectionGuard(limits);
    super({
      // Ping every client, and drop those that stop answering.
      "grpc.keepalive_time_ms": limits.keepaliveTimeMs,
      "grpc.keepalive_timeout_ms": limits.keepaliveTimeoutMs,
      "grpc.max_connection_idle_ms": limits.idleTimeoutMs,
      "grpc.max_concurrent_streams": limits.maxConcurrentStreams,
      // Outermost: the statuses they send pass every other interceptor, which log and count them.
      interceptors: [
        ...(options.interceptors ?? []),
        openCalls.interceptor,
        endingStalledStreams(limits.streamStallTimeoutMs, () => guard.takeArrivingStream()),
      ],
    });
    this.openCalls = openCalls;
    this.guard = guard;
    quotingUnknownMethodsCut(this);
  }

  /** Listens on `address` (host:port); resolves with the port actually bound (the ephemeral one for port 0). */
  async listen(address: string, credentials: ServerCredentials): Promise<number> {
    const known = new Set(http2ServersOf(this));
    const injector = this.createConnectionInjector(credentials);
    this.guard.watchSessionsOf(newHttp2Server(this, known));
    const listener = createServer((socket) => {
      this.guard.accepted(socket);
      injector.injectConnection(this.connections.track(socket));
    });
    this.connections.addListener(listener);
    try {
      return await listening(listener, address);
    } catch (error) {
      throw new BindError(`cannot listen on ${address}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  /** Stops accepting connections, then lets the calls in flight finish (grpc-js's graceful shutdown). */
  override tryShutdown(callback: (error?: Error) => void): void {
    this.connections.stopListening();
    super.tryShutdown(callback);
  }

  /** Ends every call UNAVAILABLE and drops every connection, now. */
  override forceShutdown(): void {
    this.openCalls.endAll(SHUT_DOWN);
    this.connections.dropAll();
    super.forceShutdown();
  }
}

/** Creates a grpc-js server with our services registered. */
export function createGrpcServer(services: readonly ServiceRegistration[], options: GrpcServerOptions = {}): GrpcServer {
  const server = new GrpcServer(options);
  for (const { definition, implementation } of services) server.addService(definition, implementation);
  return server;
}

/** Binds and returns the port actually bound (the ephemeral one for port 0). */
export function bind(server: GrpcServer, address: string, credentials: ServerCredentials): Promise<number> {
  return server.listen(address, credentials);
}

/**
 * Stops accepting calls, lets in-flight ones finish for up to `graceMs`, then
 * ends whatever is still running. Resolves once every call has ended.
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

/** The calls started and not yet ended, so that shutdown can end them. */
class OpenCalls {
  private readonly calls = new Set<ServerInterceptingCall>();

  readonly interceptor: ServerInterceptor = (_definition, next) => {
    const call: ServerInterceptingCall = new ServerInterceptingCall(next, {
      start: (startNext) => startNext({ onCancel: () => this.calls.delete(call) }),
      sendStatus: (callStatus, sendNext) => {
        this.calls.delete(call);
        sendNext(callStatus);
      },
    });
    this.calls.add(call);
    return call;
  };

  endAll(callStatus: CallStatus): void {
    for (const call of this.calls) call.sendStatus(callStatus);
  }
}

/** The listening sockets and the connections they accepted. */
class Connections {
  private readonly listeners: NetServer[] = [];
  private readonly sockets = new Set<Socket>();

  addListener(listener: NetServer): void {
    this.listeners.push(listener);
  }

  track(socket: Socket): Socket {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    return socket;
  }

  stopListening(): void {
    for (const listener of this.listeners) if (listener.listening) listener.close();
  }

  dropAll(): void {
    this.stopListening();
    for (const socket of this.sockets) socket.destroy();
  }
}

/** `host:port`, the host an IPv6 address in brackets or a name, as GRPC_ADDR (and HTTP_ADDR) is written. */
export function listening(listener: NetServer, address: string): Promise<number> {
  const separator = address.lastIndexOf(":");
  const host = address.slice(0, separator).replace(/^\[(.*)\]$/, "$1");
  const port = Number(address.slice(separator + 1));
  return new Promise((resolve, reject) => {
    listener.once("error", reject);
    listener.listen({ host, port }, () => {
      listener.off("error", reject);
      const bound = listener.address();
      if (bound === null || typeof bound === "string") reject(new Error("the listener is not on TCP"));
      else resolve(bound.port);
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

/** grpc-js's answer to a call of a method no service registered, before any interceptor runs. */
const UNIMPLEMENTED_PREFIX = "The server does not implement the method ";

type RespondWithError = (error: { code?: number; details?: string }, ...rest: unknown[]) => void;

/**
 * grpc-js answers a call of an unknown method UNIMPLEMENTED itself, below the
 * interceptors, quoting the path whole (tens of kilobytes fit in a header).
 * Its private `_respondWithError` is the one place that answer passes: the
 * path is quoted cut there, as every other client value. Fails at start if a
 * grpc-js upgrade moved it (the bounded-status tests would fail too).
 */
function quotingUnknownMethodsCut(server: Server): void {
  const internals = server as unknown as { _respondWithError?: RespondWithError };
  const respond = internals._respondWithError;
  if (typeof respond !== "function") throw new Error("grpc-js's Server has no _respondWithError: see quotingUnknownMethodsCut");
  internals._respondWithError = function (this: Server, error, ...rest) {
    const { details } = error;
    const quoted = details?.startsWith(UNIMPLEMENTED_PREFIX) ? `${UNIMPLEMENTED_PREFIX}${quoteClientValue(details.slice(UNIMPLEMENTED_PREFIX.length))}` : details;
    // Sent as the raw grpc-message header: percent-encoded here, as grpc-js encodes every other status.
    respond.call(this, { ...error, details: quoted === undefined ? undefined : encodeURI(boundedMessage(quoted)) }, ...rest);
  };
}

