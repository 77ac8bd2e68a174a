import * as http from "node:http";
import * as https from "node:https";
import type { SecureClientSessionOptions } from "node:http2";
import type { Interceptor, Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";

/**
 * "grpc" speaks native gRPC over HTTP/2 to the service's GRPC_ADDR; "connect"
 * (the Connect protocol, binary) and "grpc-web" go to its HTTP_ADDR.
 */
export type Protocol = "grpc" | "grpc-web" | "connect";

/** HTTP/1.1 passes any proxy; HTTP/2 multiplexes calls on one connection. */
export type HttpVersion = "1.1" | "2";

/** PEM contents, not file paths. With none of them, the system's CAs verify the server. */
export interface TlsOptions {
  /** The CA(s) that signed the server's certificate. */
  readonly ca?: string | Buffer;
  /** A client certificate and its key, for a server that asks for one (mutual TLS). */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** The name the server's certificate must carry, when it differs from the address's host (e.g. an IP address). */
  readonly serverName?: string;
}

export interface TransportOptions {
  readonly baseUrl: string;
  readonly protocol: Protocol;
  /** Of "connect" and "grpc-web"; "grpc" is HTTP/2 always. */
  readonly httpVersion: HttpVersion;
  readonly tls: TlsOptions | undefined;
  readonly defaultTimeoutMs: number | undefined;
  readonly interceptors: Interceptor[];
}

/** A transport and the one thing that ends its connections. */
export interface ClosableTransport {
  readonly transport: Transport;
  close(): void;
}

export function createTransport(options: TransportOptions): ClosableTransport {
  if (options.protocol === "grpc") return overHttp2(options, createGrpcTransport);
  const create = options.protocol === "connect" ? createConnectTransport : createGrpcWebTransport;
  return options.httpVersion === "2" ? overHttp2(options, create) : overHttp1(options, create);
}

interface Http2Options extends Omit<TransportOptions, "protocol" | "tls"> {
  readonly httpVersion: "2";
  readonly sessionManager: Http2SessionManager;
}

interface Http1Options extends Omit<TransportOptions, "protocol" | "tls"> {
  readonly httpVersion: "1.1";
  readonly nodeOptions: { agent: http.Agent };
}

/** One HTTP/2 connection, ours to end: its session manager. */
function overHttp2({ tls, ...options }: TransportOptions, create: (options: Http2Options) => Transport): ClosableTransport {
  const sessionManager = new Http2SessionManager(options.baseUrl, {}, tls === undefined ? {} : secureSessionOptions(tls));
  const transport = create({ ...options, httpVersion: "2", sessionManager });
  return { transport, close: () => sessionManager.abort() };
}

/** Keep-alive connections, ours to end: their agent. */
function overHttp1({ tls, ...options }: TransportOptions, create: (options: Http1Options) => Transport): ClosableTransport {
  const secure = new URL(options.baseUrl).protocol === "https:";
  const agent = secure ? new https.Agent(httpsAgentOptions(tls)) : new http.Agent({ keepAlive: true });
  const transport = create({ ...options, httpVersion: "1.1", nodeOptions: { agent } });
  return { transport, close: () => agent.destroy() };
}

function secureSessionOptions({ ca, cert, key, serverName }: TlsOptions): SecureClientSessionOptions {
  return { ca, cert, key, servername: serverName };
}

function httpsAgentOptions(tls: TlsOptions | undefined): https.AgentOptions {
  return { keepAlive: true, ...(tls === undefined ? {} : secureSessionOptions(tls)) };
}
