import * as http from "node:http";
import * as http2 from "node:http2";
import type { Server as NetServer, Socket } from "node:net";
import { status } from "@grpc/grpc-js";
import { createConnectRouter } from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import type { ConnectionLimits } from "../config";
import { UnavailableError } from "../errors";
import type { TlsPems } from "../grpc/credentials";
import type { HandlerErrorHook } from "../grpc/handlers";
import type { RpcObserver } from "../grpc/interceptors";
import { BindError, listening } from "../grpc/server";
import type { Logger } from "../logger";
import { OpenCalls, OpenSockets, sniffHttpVersion } from "./connections";
import { CorsPolicy } from "./cors";
import { servePage } from "./page";
import { COMPRESSIONS } from "./refusals";
import { registerServices, toConnectError, type ServedService } from "./routes";
import { RpcExchange, STATUS_SEND_MS, type NodeRequest, type NodeResponse } from "./rpc-exchange";

/** The largest request message, as on the gRPC door (grpc-js's default receive limit). */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

export interface HttpDoorOptions {
  readonly services: readonly ServedService[];
  readonly rpcs: RpcObserver;
  readonly logger: Logger;
  readonly limits: ConnectionLimits;
  /** The gRPC door's certificate and key (and client CA for mTLS); plaintext when undefined. */
  readonly tls: TlsPems | undefined;
  /** Browser origins allowed to call cross-origin; none by default. */
  readonly corsOrigins: readonly string[];
  /** False while the health probe finds the database gone: calls are then refused UNAVAILABLE, as on the gRPC door. */
  readonly isAvailable: () => boolean;
  /** Sees every error a handler threw, as the gRPC adapter's onError. */
  readonly onError: HandlerErrorHook;
}

/**
 * The HTTP door: the same handlers as the gRPC door, served by Connect over
 * HTTP/1.1 and HTTP/2 (h2c without TLS, ALPN with it), for the Connect
 * protocol (JSON or binary; plain POSTs, so curl and fetch can call) and
 * gRPC-Web. Requests for no method go to the browser page, then 404.
 */
export class HttpDoor {
  private readonly routes: ReadonlyMap<string, UniversalHandler>;
  private readonly cors: CorsPolicy;
  private readonly shutdown = new AbortController();
  private readonly calls = new OpenCalls<RpcExchange>();
  private readonly sockets = new OpenSockets();
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly listener: NetServer;
  /** The plaintext listener, which also serves HTTP/1.1; the TLS server serves HTTP/1.1 itself. */
  private readonly http1: http.Server | undefined;
  private stopping = false;

  constructor(private readonly options: HttpDoorOptions) {
    this.routes = this.routesOf(options);
    this.cors = new CorsPolicy(options.corsOrigins);
    const onRequest = (request: NodeRequest, response: NodeResponse): void => this.onRequest(request, response);
    if (options.tls === undefined) {
      this.http1 = this.plaintextServer(onRequest);
      this.listener = this.http1;
    } else {
      this.listener = this.tlsServer(options.tls, onRequest);
      this.http1 = undefined;
    }
  }

  /** Listens on `address` (host:port); resolves with the port actually bound. */
  async listen(address: string): Promise<number> {
    try {
      return await listening(this.listener, address);
    } catch (error) {
      throw new BindError(`cannot listen on ${address}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  /**
   * Stops accepting connections and calls, lets the calls in flight finish
   * for up to `graceMs`, then ends the rest UNAVAILABLE (reason
   * SERVER_SHUTTING_DOWN) and drops every connection.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.listener.listening) this.listener.close();
    for (const session of this.sessions) session.close();
    this.http1?.closeIdleConnections();
    if (!(await this.calls.none(graceMs))) {
      this.shutdown.abort(toConnectError(UnavailableError.shutDown()));
      if (!(await this.calls.none(STATUS_SEND_MS))) {
        for (const call of this.calls.open) call.dropped(status.UNAVAILABLE);
        await this.calls.none(STATUS_SEND_MS);
      }
    }
    this.sockets.destroyAll();
  }

  private routesOf(options: HttpDoorOptions): ReadonlyMap<string, UniversalHandler> {
    const router = createConnectRouter({
      // gRPC itself is the gRPC door's: grpc-js, with its connection limits.
      grpc: false,
      grpcWeb: true,
      connect: true,
      acceptCompression: COMPRESSIONS,
      readMaxBytes: MAX_REQUEST_BYTES,
      shutdownSignal: this.shutdown.signal,
    });
    registerServices(router, options.services, { onError: options.onError, refusal: () => this.refusal() });
    return new Map(router.handlers.map((handler) => [handler.requestPath, handler]));
  }

  private refusal(): UnavailableError | undefined {
    if (this.stopping) return UnavailableError.shutDown();
    return this.options.isAvailable() ? undefined : UnavailableError.database();
  }

  private onRequest(request: NodeRequest, response: NodeResponse): void {
    if (this.cors.apply(request, response)) return;
    const handler = this.routes.get((request.url ?? "").split("?", 1)[0] ?? "");
    if (handler !== undefined) {
      this.serveRpc(handler, request, response);
    } else if (!servePage(request, response)) {
      response.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      response.end("not found\n");
    }
  }

  private serveRpc(handler: UniversalHandler, request: NodeRequest, response: NodeResponse): void {
    // An HTTP/1.1 connection closes after its call once the server is stopping (HTTP/2 has had its GOAWAY).
    if (this.stopping && request.httpVersionMajor === 1) response.setHeader("connection", "close");
    const exchange = new RpcExchange(handler, request, response, this.options.rpcs, this.options.logger);
    // As GRPC_STREAM_STALL_TIMEOUT_MS on the gRPC door: a stream whose client takes nothing is dropped.
    if (handler.method.methodKind === "server_streaming") {
      response.setTimeout(this.options.limits.streamStallTimeoutMs, () => exchange.dropped(status.RESOURCE_EXHAUSTED));
    }
    this.calls.opened(exchange);
    response.once("close", () => this.calls.closed(exchange));
    exchange.run();
  }

  /**
   * One port, two servers: node:http listens (so that its request timeouts
   * and idle-connection tracking run), and hands each connection whose first
   * bytes are HTTP/2's preface to an h2c server instead.
   */
  private plaintextServer(onRequest: (request: NodeRequest, response: NodeResponse) => void): http.Server {
    const { limits } = this.options;
    const http1 = http.createServer(http1Timeouts(limits), onRequest);
    const h2c = http2.createServer({ settings: { maxConcurrentStreams: limits.maxConcurrentStreams } }, onRequest);
    this.watchSessionsOf(h2c);
    const serveHttp1 = http1.listeners("connection");
    http1.removeAllListeners("connection");
    http1.on("connection", (socket: Socket) => {
      this.sockets.track(socket);
      sniffHttpVersion(socket, limits.handshakeTimeoutMs, (isHttp2) => {
        if (isHttp2) {
          h2c.emit("connection", socket);
          return;
        }
        for (const listener of serveHttp1) Reflect.apply(listener, http1, [socket]);
        // node:http reads from the socket's stream, where the sniffed bytes wait for it to flow again.
        socket.resume();
      });
    });
    return http1;
  }

  /** HTTP/2 or HTTP/1.1 as the client's ALPN asks, with the gRPC door's certificate (and client CA, for mTLS). */
  private tlsServer(tls: TlsPems, onRequest: (request: NodeRequest, response: NodeResponse) => void): NetServer {
    const { limits } = this.options;
    const mutual = tls.clientCa !== undefined;
    const server = http2.createSecureServer(
      {
        cert: tls.cert,
        key: tls.key,
        ca: tls.clientCa,
        requestCert: mutual,
        rejectUnauthorized: mutual,
        allowHTTP1: true,
        handshakeTimeout: limits.handshakeTimeoutMs,
        settings: { maxConcurrentStreams: limits.maxConcurrentStreams },
      },
      onRequest,
    );
    // Read by the HTTP/1.1 fallback, as node:http's options are.
    Object.assign(server, http1Timeouts(limits));
    server.on("connection", (socket: Socket) => this.sockets.track(socket));
    this.watchSessionsOf(server);
    return server;
  }

  /** Sessions are told to go away on stop; one with no call open for GRPC_IDLE_TIMEOUT_MS is closed. */
  private watchSessionsOf(server: http2.Http2Server | http2.Http2SecureServer): void {
    server.on("session", (session: http2.ServerHttp2Session) => {
      if (this.stopping) session.close();
      this.sessions.add(session);
      session.once("close", () => this.sessions.delete(session));
      session.setTimeout(this.options.limits.idleTimeoutMs, () => session.close());
    });
  }
}

/** How long an HTTP/1.1 client may take to send its request: its headers as long as an HTTP/2 preface, all of it as long as a stream may stall. */
function http1Timeouts(limits: ConnectionLimits): { headersTimeout: number; requestTimeout: number } {
  return { headersTimeout: limits.handshakeTimeoutMs, requestTimeout: Math.max(limits.handshakeTimeoutMs, limits.streamStallTimeoutMs) };
}
