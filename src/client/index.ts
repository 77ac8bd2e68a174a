/**
 * The typed client of chinook-grpc, `import … from "chinook-grpc/client"`:
 * Connect-ES clients built from the generated service descriptors, over native
 * gRPC (GRPC_ADDR) or, on HTTP_ADDR, the Connect protocol or gRPC-Web.
 */
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { CustomerService } from "../../gen/chinook/v1/customer_service_pb";
import { InvoiceService } from "../../gen/chinook/v1/invoice_service_pb";
import { createTransport, type HttpVersion, type Protocol, type TlsOptions } from "./transport";

export interface ChinookClientOptions {
  /** host:port of the service (GRPC_ADDR for "grpc", HTTP_ADDR otherwise); http or https per `tls`. */
  readonly address?: string;
  /** Or a full URL, e.g. "https://chinook.example.com"; takes precedence over `address`. */
  readonly baseUrl?: string;
  /** "grpc" by default. */
  readonly protocol?: Protocol;
  /** For "connect" and "grpc-web": "1.1" by default; "grpc" is always HTTP/2. */
  readonly httpVersion?: HttpVersion;
  /** TLS (https) to `address`, verified against `tls.ca` or the system's CAs; mutual TLS with `cert` and `key`. */
  readonly tls?: TlsOptions;
  /** The deadline of every call that sets no `timeoutMs` of its own; none by default. */
  readonly timeoutMs?: number;
  /** Metadata sent with every call (e.g. authorization); a call's own `headers` win. */
  readonly headers?: HeadersInit;
}

/** What `new Headers()` accepts: a Headers, a record or [name, value] pairs. */
type HeadersInit = ConstructorParameters<typeof Headers>[0];

export interface ChinookClient {
  readonly customers: Client<typeof CustomerService>;
  readonly invoices: Client<typeof InvoiceService>;
  /** Ends the client's connections, so that a program can exit; calls still in flight fail. */
  close(): void;
}

/** Both services share one transport: one HTTP/2 connection, or one pool of HTTP/1.1 keep-alive connections. */
export function createChinookClient(options: ChinookClientOptions): ChinookClient {
  const interceptors = options.headers === undefined ? [] : [withDefaultHeaders(new Headers(options.headers))];
  const { transport, close } = createTransport({
    baseUrl: baseUrlOf(options),
    protocol: options.protocol ?? "grpc",
    httpVersion: options.httpVersion ?? "1.1",
    tls: options.tls,
    defaultTimeoutMs: options.timeoutMs,
    interceptors,
  });
  return {
    customers: createClient(CustomerService, transport),
    invoices: createClient(InvoiceService, transport),
    close,
  };
}

function baseUrlOf({ baseUrl, address, tls }: ChinookClientOptions): string {
  if (baseUrl !== undefined) return baseUrl;
  if (address === undefined) throw new TypeError("createChinookClient needs an address (host:port) or a baseUrl");
  return `${tls === undefined ? "http" : "https"}://${address}`;
}

function withDefaultHeaders(defaults: Headers): Interceptor {
  return (next) => (request) => {
    defaults.forEach((value, name) => {
      if (!request.header.has(name)) request.header.set(name, value);
    });
    return next(request);
  };
}

export { errorDetails, type ErrorDetails } from "./error-details";
export type { HttpVersion, Protocol, TlsOptions } from "./transport";
export { Code, ConnectError, type CallOptions, type Client } from "@connectrpc/connect";
export * from "../../gen/chinook/v1/customer_pb";
export * from "../../gen/chinook/v1/customer_service_pb";
export * from "../../gen/chinook/v1/invoice_pb";
export * from "../../gen/chinook/v1/invoice_service_pb";
export {
  BadRequestSchema,
  ErrorInfoSchema,
  PreconditionFailureSchema,
  QuotaFailureSchema,
  ResourceInfoSchema,
  RetryInfoSchema,
  type BadRequest,
  type BadRequest_FieldViolation,
  type ErrorInfo,
  type PreconditionFailure,
  type PreconditionFailure_Violation,
  type QuotaFailure,
  type QuotaFailure_Violation,
  type ResourceInfo,
  type RetryInfo,
} from "../../gen/google/rpc/error_details_pb";
