import { randomUUID } from "node:crypto";
import {
  Metadata,
  ResponderBuilder,
  ServerInterceptingCall,
  ServerListenerBuilder,
  status,
  type Responder,
  type ServerListener,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerMethodDefinition,
} from "@grpc/grpc-js";
import type { Level } from "pino";
import type { Logger } from "../logger";
import { runInRequest, type RequestContext } from "../request-context";
import { rpcMethodOf, type RpcMethod, type RpcMetrics } from "./rpc-metrics";

export const REQUEST_ID_KEY = "x-request-id";

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
}

/** How one RPC ended, as logs and metrics see it. */
interface FinishedCall {
  readonly method: RpcMethod;
  readonly code: status;
  readonly seconds: number;
  readonly peer: string;
  readonly requestId: string;
}

/**
 * Watches every RPC from a grpc-js server interceptor: counts and times it,
 * writes its one log line, gives it a request id (the client's `x-request-id`,
 * else a new UUID) that is echoed in the response metadata and attached to
 * every log line written while serving it. Error details are not logged
 * here: the adapter's onError hook logs them once.
 */
export class RpcObserver {
  private callsInFlight = 0;
  readonly interceptor: ServerInterceptor = (definition, call) => this.intercept(definition, call);

  constructor(private readonly options: RpcObserverOptions) {}

  /** Calls to `inFlightServices` started and not yet finished; maintenance waits for none. */
  get inFlight(): number {
    return this.callsInFlight;
  }

  private intercept(
    definition: ServerMethodDefinition<unknown, unknown>,
    call: ServerInterceptingCallInterface,
  ): ServerInterceptingCall {
    const method = rpcMethodOf(definition);
    if (this.countsInFlight(method)) this.callsInFlight += 1;
    this.options.metrics.started(method);
    const observed = new ObservedCall(method, call, (finished) => this.finished(finished));
    return new ServerInterceptingCall(call, observed.responder());
  }

  private countsInFlight(method: RpcMethod): boolean {
    return this.options.inFlightServices.includes(method.service);
  }

  private finished({ method, code, seconds, peer, requestId }: FinishedCall): void {
    if (this.countsInFlight(method)) this.callsInFlight -= 1;
    this.options.metrics.handled(method, code, seconds);
    const level: Level = SERVER_FAULTS.has(code) ? "warn" : "info";
    const codeName = status[code] ?? String(code);
    const fields = {
      method: method.path,
      code: codeName,
      code_number: code,
      duration_ms: Math.round(seconds * 1e6) / 1e3,
      peer,
      request_id: requestId,
    };
    this.options.logger[level](fields, `${method.path} ${codeName}`);
  }
}

/** One call's request id, clock and end, reported exactly once. */
class ObservedCall {
  private readonly started = process.hrtime.bigint();
  private context: RequestContext | undefined;
  private headersSent = false;
  private done = false;

  constructor(
    private readonly method: RpcMethod,
    private readonly call: ServerInterceptingCallInterface,
    private readonly onFinish: (finished: FinishedCall) => void,
  ) {}

  responder(): Responder {
    return new ResponderBuilder()
      .withStart((next) => next(this.listener()))
      .withSendMetadata((metadata, next) => {
        this.headersSent = true;
        metadata.set(REQUEST_ID_KEY, this.requestContext().requestId);
        next(metadata);
      })
      .withSendStatus((callStatus, next) => {
        this.finish(callStatus.code);
        // A status without headers travels alone (trailers-only): the id rides with it.
        next(this.headersSent ? callStatus : withRequestId(callStatus, this.requestContext().requestId));
      })
      .build();
  }

  /** Runs the handler (called from these callbacks) inside the request's context. */
  private listener(): ServerListener {
    return new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        this.context = { requestId: requestIdFrom(metadata) };
        this.inRequest(() => next(metadata));
      })
      .withOnReceiveMessage((message, next) => this.inRequest(() => next(message)))
      .withOnReceiveHalfClose((next) => this.inRequest(next))
      // grpc-js also reports a cancel after every status it sent; finish() ignores those.
      .withOnCancel(() => this.finish(cancellationCode(this.call)))
      .build();
  }

  private inRequest(work: () => void): void {
    runInRequest(this.requestContext(), work);
  }

  private requestContext(): RequestContext {
    this.context ??= { requestId: randomUUID() };
    return this.context;
  }

  private finish(code: status): void {
    if (this.done) return;
    this.done = true;
    this.onFinish({
      method: this.method,
      code,
      seconds: Number(process.hrtime.bigint() - this.started) / 1e9,
      peer: this.call.getPeer(),
      requestId: this.requestContext().requestId,
    });
  }
}

function requestIdFrom(metadata: Metadata): string {
  const [given] = metadata.get(REQUEST_ID_KEY);
  return typeof given === "string" && ACCEPTABLE_REQUEST_ID.test(given) ? given : randomUUID();
}

function withRequestId(callStatus: CallStatus, requestId: string): CallStatus {
  const trailers = callStatus.metadata?.clone() ?? new Metadata();
  trailers.set(REQUEST_ID_KEY, requestId);
  return { ...callStatus, metadata: trailers };
}

/** grpc-js ends expired calls itself, past the interceptors; it only tells them of a cancel. */
function cancellationCode(call: ServerInterceptingCallInterface): status {
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  return deadlineMs <= Date.now() ? status.DEADLINE_EXCEEDED : status.CANCELLED;
}
