import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type TextMapGetter } from "@opentelemetry/api";
import { status } from "@grpc/grpc-js";
import {
  RPC_CONNECT_RPC_ERROR_CODE,
  RPC_GRPC_STATUS_CODE,
  RPC_MESSAGES_SENT,
  RPC_METHOD,
  RPC_PROTOCOL,
  RPC_SERVICE,
  RPC_SYSTEM,
} from "./semconv";
import type { Tracing } from "./tracing";

/** `grpc` for the grpc-js door; `connect_rpc` for the Connect door, whichever protocol it spoke. */
export type RpcSystem = "grpc" | "connect_rpc";

export interface RpcCall {
  /** `chinook.v1.CustomerService` */
  readonly service: string;
  /** `GetCustomer` */
  readonly method: string;
  readonly system: RpcSystem;
  /** For the Connect door: `connect`, `grpc-web` or `grpc`. */
  readonly protocol?: string;
  /** Count the messages sent (server streams): the span then carries chinook.rpc.messages_sent. */
  readonly streamsResponses?: boolean;
}

/**
 * The server-side codes the RPC conventions mark as errors; the others
 * (NOT_FOUND, INVALID_ARGUMENT, …) are the client's and leave the status unset.
 */
const SERVER_ERROR_CODES: ReadonlySet<number> = new Set([
  status.UNKNOWN,
  status.DEADLINE_EXCEEDED,
  status.UNIMPLEMENTED,
  status.INTERNAL,
  status.UNAVAILABLE,
  status.DATA_LOSS,
]);

/**
 * One RPC's SERVER span. Its `context` is the one the handler must run in
 * (the request context's `trace`), so that statement spans and log lines
 * find it.
 */
export class RpcSpan {
  private messagesSent = 0;
  private ended = false;

  constructor(
    private readonly span: Span,
    readonly context: Context,
    private readonly call: RpcCall,
  ) {}

  messageSent(): void {
    this.messagesSent += 1;
  }

  /** Ends the span with the call's gRPC status code (Connect's codes are the same numbers); later calls do nothing. */
  end(code: number): void {
    if (this.ended) return;
    this.ended = true;
    const { span, call } = this;
    if (call.system === "grpc") span.setAttribute(RPC_GRPC_STATUS_CODE, code);
    else if (code !== status.OK) span.setAttribute(RPC_CONNECT_RPC_ERROR_CODE, connectCodeName(code));
    if (call.streamsResponses === true) span.setAttribute(RPC_MESSAGES_SENT, this.messagesSent);
    if (SERVER_ERROR_CODES.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, message: status[code] });
    span.end();
  }
}

/**
 * Starts the SERVER span of a call, continuing the trace its caller sent in
 * `headers` (W3C traceparent and tracestate; any other format the propagator reads).
 */
export function startRpcSpan<Headers>(tracing: Tracing, call: RpcCall, headers: Headers, getter: TextMapGetter<Headers>): RpcSpan {
  const parent = tracing.propagator.extract(ROOT_CONTEXT, headers, getter);
  const attributes: Attributes = { [RPC_SYSTEM]: call.system, [RPC_SERVICE]: call.service, [RPC_METHOD]: call.method };
  if (call.protocol !== undefined) attributes[RPC_PROTOCOL] = call.protocol;
  const span = tracing.tracer.startSpan(`${call.service}/${call.method}`, { kind: SpanKind.SERVER, attributes }, parent);
  return new RpcSpan(span, trace.setSpan(parent, span), call);
}

/** Connect's error codes are gRPC's, spelled in snake_case: `not_found`. */
function connectCodeName(code: number): string {
  return (status[code] ?? "unknown").toLowerCase();
}
