import { randomUUID } from "node:crypto";
import type { DescMethod } from "@bufbuild/protobuf";
import {
  Metadata,
  ServerInterceptingCall,
  status,
  type Responder,
  type ServerListener,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerMethodDefinition,
} from "@grpc/grpc-js";
import type { Level } from "pino";
import { cutText } from "../client-text";
import { unredactedLogger, type Logger } from "../logger";
import { REQUEST_ID_KEY, runInRequest, type RequestContext } from "../request-context";
import { METADATA_GETTER } from "../tracing/grpc-metadata";
import { HEADERS_GETTER } from "../tracing/http-headers";
import { startRpcSpan, type RpcSpan } from "../tracing/rpc-span";
import type { Tracing } from "../tracing/tracing";
import { methodPath } from "./adapter";
import {
  rpcMethodOf,
  rpcMethodOfDescriptor,
  type MethodMetrics,
  type RpcMethod,
  type RpcMetrics,
  type RpcProtocol,
} from "./rpc-metrics";
import { deadlineHasPassed, withBoundedMessage } from "./status";

/** A client's id is echoed into our logs, so it must be short and plain. */
const ACCEPTABLE_REQUEST_ID = /^[\w.:/+=-]{1,128}$/;

/** Failures on our side; every other non-OK code is the client's request or the client leaving. */
const SERVER_FAULTS: ReadonlySet<status> = new Set([
  status.UNKNOWN,
  status.INTERNAL,
  status.UNAVAILABLE,
  status.DATA_LOSS,
]);

type CallStatus = Parameters<NonNullable<Responder["sendStatus"]>>[0];

export interface RpcObserverOptions {
  logger: Logger;
  metrics: RpcMetrics;
  /**
   * Services whose calls count in `inFlight`. Others (a health Watch, a
   * reflection stream) may stay open indefinitely and would never let it reach 0.
   */
  inFlightServices: readonly string[];
  /** When given, every call gets a SERVER span (src/tracing/rpc-span.ts); when not, no tracing code runs. */
  tracing?: Tracing;
  /**
   * Whether the code a call runs can find the call (currentRequest), as the
   * lines and spans written below its handler need: debug query lines,
   * tracing's statement spans. On Node 20 this costs AsyncLocalStorage's
   * promise hooks on every promise the call makes: 5-50 µs of CPU a call
   * (bench/RESULTS.md). Without it, the lines a call causes at info and
   * above still name it: the error hook is given its request id.
   */
  propagateContext: boolean;
}

/** What every call to one method shares, worked out on its first call. */
interface ObservedMethod {
  readonly method: RpcMethod;
  readonly protocol: RpcProtocol;
  readonly countsInFlight: boolean;
  readonly metrics: MethodMetrics;
  /** Why requests to it did not decode, each until the cancel of its call, which grpc-js reports a tick later. */
  readonly undecodable: UndecodableRequest[];
}

interface UndecodableRequest {
  readonly reason: string;
}

/** How a call ended: its code and, when grpc-js ended it for a reason of its own, that reason. */
interface CallEnd {
  readonly code: status;
  readonly reason?: string;
}

/** Who made a call, as its log line names it. */
interface Caller {
  peer(): string;
  requestId(): string;
}

type FinishHandler = (observed: ObservedMethod, end: CallEnd, seconds: number, call: Caller) => void;

/**
 * A call that came through the HTTP door (src/http), observed as the
 * interceptor observes grpc-js's: counted in flight, timed, counted and
 * logged under its protocol when `finish` reports its end (once; later calls
 * do nothing). The handler must run in `context`.
 */
export interface ObservedRpc {
  readonly context: RequestContext;
  /** Runs the call's handler: inside its request context when the observer propagates it. */
  run(work: () => void): void;
  /** One more message of a server stream sent, for its span. */
  messageSent(): void;
  finish(code: status): void;
}

/** Of why a request did not decode: the decoder's own words (wire types, field numbers), never the request's bytes. */
const MAX_REASON_CHARACTERS = 200;

/**
 * Watches every RPC from a grpc-js server interceptor: counts and times it,
 * writes its one log line, gives it a request id (the client's `x-request-id`,
 * else a new UUID) that is echoed in the response metadata, handed to the
 * handler's door for its error hook and, with `propagateContext`, attached to
 * every line written below the handler; and cuts every status message to
 * 1 KiB on its way out. Error details are not logged here: the adapter's
 * onError hook logs them once.
 */
export class RpcObserver {
  private callsInFlight = 0;
  /** Keyed by path; grpc-js only routes registered methods here, so it stays as small as the services. */
  private readonly methods = new Map<string, ObservedMethod>();
  /** The RPC line holds a method, a code, numbers, a peer address and a checked request id: no customer data. */
  private readonly rpcLines: Logger;
  readonly interceptor: ServerInterceptor = (definition, call) => this.intercept(definition, call);

  constructor(private readonly options: RpcObserverOptions) {
    this.rpcLines = unredactedLogger(options.logger);
  }

  /**
   * For the adapter's onUndecodableRequest: grpc-js answers such a call
   * INTERNAL and tells the interceptors only of a cancel, on the next tick.
   * The reason waits for that cancel, and is dropped if none comes this turn
   * of the event loop (the client had already gone).
   */
  readonly onUndecodableRequest = (method: DescMethod, error: unknown): void => {
    const pending = this.methods.get(methodPath(method))?.undecodable;
    if (pending === undefined) return;
    const reason = `request did not decode: ${cutText(messageOf(error), MAX_REASON_CHARACTERS)}`;
    const request: UndecodableRequest = { reason };
    pending.push(request);
    setImmediate(() => {
      const index = pending.indexOf(request);
      if (index >= 0) pending.splice(index, 1);
    });
  };

  /** Calls to `inFlightServices` started and not yet finished, through either door; maintenance waits for none. */
  get inFlight(): number {
    return this.callsInFlight;
  }

  /** Starts observing a call to `method` through the HTTP door; its request id is the client's `x-request-id` when acceptable. */
  observe(method: DescMethod, protocol: RpcProtocol, requestHeader: Headers, peer: string): ObservedRpc {
    const observed = this.observedMethodOf(`${protocol} ${methodPath(method)}`, () => rpcMethodOfDescriptor(method), protocol);
    if (observed.countsInFlight) this.callsInFlight += 1;
    observed.metrics.started();
    const startedMs = performance.now();
    const { tracing } = this.options;
    const span = tracing === undefined ? undefined : startConnectSpan(tracing, observed.method, protocol, requestHeader);
    const context: RequestContext = { requestId: acceptableRequestId(requestHeader.get(REQUEST_ID_KEY)), trace: span?.context };
    const caller: Caller = { peer: () => peer, requestId: () => context.requestId };
    let done = false;
    const { propagateContext } = this.options;
    return {
      context,
      run: (work) => (propagateContext ? runInRequest(context, work) : work()),
      messageSent: () => span?.messageSent(),
      finish: (code) => {
        if (done) return;
        done = true;
        span?.end(code);
        this.onFinish(observed, { code }, (performance.now() - startedMs) / 1e3, caller);
      },
    };
  }

  private intercept(
    definition: ServerMethodDefinition<unknown, unknown>,
    call: ServerInterceptingCallInterface,
  ): ServerInterceptingCall {
    const observed = this.observedMethod(definition);
    if (observed.countsInFlight) this.callsInFlight += 1;
    observed.metrics.started();
    const { tracing, propagateContext } = this.options;
    const observedCall = new ObservedCall(observed, call, this.onFinish, tracing, propagateContext);
    return new ServerInterceptingCall(call, observedCall.responder());
  }

  private observedMethod(definition: ServerMethodDefinition<unknown, unknown>): ObservedMethod {
    return this.observedMethodOf(definition.path, () => rpcMethodOf(definition), "grpc");
  }

  private observedMethodOf(key: string, methodOf: () => RpcMethod, protocol: RpcProtocol): ObservedMethod {
    let observed = this.methods.get(key);
    if (observed === undefined) {
      const method = methodOf();
      observed = {
        method,
        protocol,
        countsInFlight: this.options.inFlightServices.includes(method.service),
        metrics: this.options.metrics.forMethod(method, protocol),
        undecodable: [],
      };
      this.methods.set(key, observed);
    }
    return observed;
  }

  /** Called exactly once per call; one function for all calls. */
  private readonly onFinish: FinishHandler = (observed, { code, reason }, seconds, call) => {
    if (observed.countsInFlight) this.callsInFlight -= 1;
    observed.metrics.handled(code, seconds);
    const logger = this.rpcLines;
    const level: Level = SERVER_FAULTS.has(code) ? "warn" : "info";
    if (!logger.isLevelEnabled(level)) return;
    const { path } = observed.method;
    const codeName = status[code] ?? String(code);
    const fields = {
      method: path,
      protocol: observed.protocol,
      code: codeName,
      code_number: code,
      duration_ms: Math.round(seconds * 1e6) / 1e3,
      peer: call.peer(),
      request_id: call.requestId(),
      // pino leaves out an undefined field: only calls grpc-js ended for a reason of its own have one.
      reason,
    };
    logger[level](fields, `${path} ${codeName}`);
  };
}

/** One call's request id, clock and end, reported exactly once. */
class ObservedCall {
  private readonly startedMs = performance.now();
  /** Read now: once the connection is gone, as when it ends a call, grpc-js no longer knows the peer. */
  private readonly peerAddress: string;
  private context: RequestContext | undefined;
  private span: RpcSpan | undefined;
  private headersSent = false;
  private done = false;

  constructor(
    private readonly observed: ObservedMethod,
    private readonly call: ServerInterceptingCallInterface,
    private readonly onFinish: FinishHandler,
    private readonly tracing: Tracing | undefined,
    private readonly propagateContext: boolean,
  ) {
    this.peerAddress = call.getPeer();
  }

  responder(): Responder {
    return {
      start: (next) => next(this.listener()),
      // Counted only when a span will report it: untraced calls keep grpc-js's own pass-through.
      sendMessage: this.tracing !== undefined && this.observed.method.type === "server_stream" ? this.countingMessages : undefined,
      sendMetadata: (metadata, next) => {
        this.headersSent = true;
        metadata.set(REQUEST_ID_KEY, this.requestId());
        next(metadata);
      },
      sendStatus: (callStatus, next) => {
        this.finish({ code: callStatus.code });
        const bounded = withBoundedMessage(callStatus);
        // A status without headers travels alone (trailers-only): the id rides with it.
        next(this.headersSent ? bounded : withRequestId(bounded, this.requestId()));
      },
    };
  }

  requestId(): string {
    return this.requestContext().requestId;
  }

  peer(): string {
    return this.peerAddress;
  }

  /**
   * Runs the handler (called from these callbacks), inside the request's
   * context when it propagates; passes the id in use on in the call's
   * metadata, where the handler's door reads it (adapter.ts).
   */
  private listener(): ServerListener {
    // grpc-js also reports a cancel after every status it sent; finish() ignores those.
    const onCancel = (): void => {
      if (!this.done) this.finish(this.endedBelowInterceptors());
    };
    if (!this.propagateContext) {
      const onReceiveMetadata: ServerListener["onReceiveMetadata"] = (metadata, next) => {
        this.requestContextOf(metadata);
        next(metadata);
      };
      return { onReceiveMetadata, onCancel };
    }
    return {
      onReceiveMetadata: (metadata, next) => runInRequest(this.requestContextOf(metadata), () => next(metadata)),
      onReceiveMessage: (message, next) => runInRequest(this.requestContext(), () => next(message)),
      onReceiveHalfClose: (next) => runInRequest(this.requestContext(), next),
      onCancel,
    };
  }

  /** The call's context, made from its metadata, which then holds the request id in use. */
  private requestContextOf(metadata: Metadata): RequestContext {
    this.span = this.tracing === undefined ? undefined : this.startSpan(this.tracing, metadata);
    this.context = { requestId: requestIdFrom(metadata), trace: this.span?.context };
    metadata.set(REQUEST_ID_KEY, this.context.requestId);
    return this.context;
  }

  private readonly countingMessages: NonNullable<Responder["sendMessage"]> = (message, next) => {
    this.span?.messageSent();
    next(message);
  };

  private startSpan(tracing: Tracing, metadata: Metadata): RpcSpan {
    const { service, name, type } = this.observed.method;
    const call = { service, method: name, system: "grpc", streamsResponses: type === "server_stream" } as const;
    return startRpcSpan(tracing, call, metadata, METADATA_GETTER);
  }

  private requestContext(): RequestContext {
    this.context ??= { requestId: randomUUID() };
    return this.context;
  }

  private finish(end: CallEnd): void {
    if (this.done) return;
    this.done = true;
    this.span?.end(end.code);
    this.onFinish(this.observed, end, (performance.now() - this.startedMs) / 1e3, this);
  }

  /**
   * grpc-js ends some calls itself, below the interceptors (an expired
   * deadline; an undecodable or oversized request, an unsupported encoding),
   * and only tells them of a cancel. An expired deadline and an undecodable
   * request (reported by the adapter's deserializer) are told apart; the rest
   * are logged and counted as CANCELLED. Seeing them too would take wrapping
   * grpc-js's own call per RPC, which cost ~20 µs of CPU (mostly GC) on every
   * GetCustomer, measured.
   */
  private endedBelowInterceptors(): CallEnd {
    if (deadlineHasPassed(this.call.getDeadline())) return { code: status.DEADLINE_EXCEEDED };
    const undecodable = this.observed.undecodable.shift();
    if (undecodable !== undefined) return { code: status.INTERNAL, reason: undecodable.reason };
    return { code: status.CANCELLED };
  }
}

/** The HTTP door's calls are Connect RPC's, whichever protocol they spoke (connect, grpc-web). */
function startConnectSpan(tracing: Tracing, method: RpcMethod, protocol: RpcProtocol, requestHeader: Headers): RpcSpan {
  const streamsResponses = method.type === "server_stream";
  const call = { service: method.service, method: method.name, system: "connect_rpc", protocol, streamsResponses } as const;
  return startRpcSpan(tracing, call, requestHeader, HEADERS_GETTER);
}

function requestIdFrom(metadata: Metadata): string {
  const [given] = metadata.get(REQUEST_ID_KEY);
  return acceptableRequestId(typeof given === "string" ? given : null);
}

function acceptableRequestId(given: string | null): string {
  return given !== null && ACCEPTABLE_REQUEST_ID.test(given) ? given : randomUUID();
}

function withRequestId(callStatus: CallStatus, requestId: string): CallStatus {
  const trailers = callStatus.metadata?.clone() ?? new Metadata();
  trailers.set(REQUEST_ID_KEY, requestId);
  return { ...callStatus, metadata: trailers };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
