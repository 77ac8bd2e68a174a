import { status } from "@grpc/grpc-js";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextKey,
  type ConnectRouter,
  type HandlerContext,
  type MethodImpl,
} from "@connectrpc/connect";
import { UnavailableError } from "../errors";
import type { CallContext, HandlerErrorHook, ServiceHandlers } from "../grpc/handlers";
import { toRpcStatus } from "../grpc/status";

/** How a call through the HTTP door ended, as its handler saw it; `handled` stays false when Connect refused the request itself. */
export interface CallOutcome {
  handled: boolean;
  code: status | undefined;
  /** A stream's signal, which its deadline aborts: the server then ends the call even while a slow client holds its answer back. */
  signal?: AbortSignal;
  /** Told of each message a stream yields, for the call's span. */
  messageSent?: () => void;
  /** The call's request id, for the error hook. */
  requestId?: string;
}

/** Where the server hands each call's CallOutcome to the handler below (Connect's per-call context values). */
export const CALL_OUTCOME = createContextKey<CallOutcome | undefined>(undefined);

export interface RouteOptions {
  /** Sees every error a handler threw, as the gRPC adapter's onError does. */
  onError: HandlerErrorHook;
  /** Undefined while calls may run; else why not (the database is gone, the server is stopping), answered without running the handler. */
  refusal: () => UnavailableError | undefined;
}

/** A service and the door-neutral handlers that serve it. */
export interface ServedService<S extends DescService = DescService> {
  readonly service: S;
  readonly handlers: ServiceHandlers<S>;
}

export function served<S extends DescService>(service: S, handlers: ServiceHandlers<S>): ServedService {
  return { service, handlers } as ServedService;
}

type LooseUnary = (request: unknown, context: CallContext) => Promise<unknown>;
type LooseServerStreaming = (request: unknown, context: CallContext) => AsyncIterable<unknown>;

/**
 * Registers each service's handlers with Connect's router, the same
 * functions the gRPC door runs: errors become the statuses (and details)
 * src/grpc/status.ts maps them to, a deadline or a cancel ends the call
 * even while the handler waits, and a refusal answers before it runs.
 */
export function registerServices(router: ConnectRouter, services: readonly ServedService[], options: RouteOptions): void {
  for (const { service, handlers } of services) {
    for (const method of service.methods) {
      const handler: unknown = Reflect.get(handlers, method.localName);
      if (typeof handler !== "function") throw new Error(`no handler for ${service.typeName}.${method.name}`);
      router.rpc(method, implementation(method, handler, options));
    }
  }
}

// The casts are the one place where descriptor-level code meets the typed
// handlers: ServiceHandlers<S> guarantees each handler matches its method's kind.
function implementation(method: DescMethod, handler: unknown, options: RouteOptions): MethodImpl<DescMethod> {
  switch (method.methodKind) {
    case "unary":
      return unary(method, handler as LooseUnary, options) as MethodImpl<DescMethod>;
    case "server_streaming":
      return serverStreaming(method, handler as LooseServerStreaming, options) as MethodImpl<DescMethod>;
    default:
      throw new Error(`the HTTP door serves unary and server-streaming methods only: ${method.parent.typeName}.${method.name}`);
  }
}

function unary(method: DescMethod, handler: LooseUnary, options: RouteOptions) {
  return async (request: unknown, context: HandlerContext): Promise<unknown> => {
    const outcome = outcomeOf(context);
    try {
      refuseIfNeeded(context, options);
      const response = await untilAborted(handler(request, context), context.signal);
      outcome.code = status.OK;
      return response;
    } catch (error) {
      throw failed(outcome, method, error, options);
    }
  };
}

function serverStreaming(method: DescMethod, handler: LooseServerStreaming, options: RouteOptions) {
  return async function* (request: unknown, context: HandlerContext): AsyncGenerator<unknown> {
    const outcome = outcomeOf(context);
    outcome.signal = context.signal;
    try {
      refuseIfNeeded(context, options);
      yield* untilAbortedEach(handler(request, context), context.signal, outcome.messageSent);
      outcome.code = status.OK;
    } catch (error) {
      throw failed(outcome, method, error, options);
    }
  };
}

function outcomeOf(context: HandlerContext): CallOutcome {
  const outcome = context.values.get(CALL_OUTCOME) ?? { handled: false, code: undefined };
  outcome.handled = true;
  return outcome;
}

/** As the gRPC door: a deadline over on arrival, or a refusal, never reaches the handler. */
function refuseIfNeeded(context: HandlerContext, options: RouteOptions): void {
  const remainingMs = context.timeoutMs();
  if (remainingMs !== undefined && remainingMs <= 0) throw deadlineExceeded();
  const refusal = options.refusal();
  if (refusal !== undefined) throw refusal;
}

function failed(outcome: CallOutcome, method: DescMethod, error: unknown, options: RouteOptions): ConnectError {
  // A ConnectError here is an abort's reason (deadline, cancel, shutdown), not the handler's fault.
  if (!(error instanceof ConnectError)) report(options, method, error, outcome.requestId);
  const connectError = toConnectError(error);
  outcome.code = connectError.code.valueOf();
  return connectError;
}

/** The status src/grpc/status.ts maps `error` to, as Connect sends it: same code, message and google.rpc details. */
export function toConnectError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  const { code, message, details } = toRpcStatus(error);
  return new ConnectError(message, connectCode(code), undefined, [...details], error);
}

/** Connect's codes are gRPC's numbers (OK aside, which is never an error). */
function connectCode(code: status): Code {
  return code.valueOf();
}

function report(options: RouteOptions, method: DescMethod, error: unknown, requestId: string | undefined): void {
  try {
    options.onError(method, error, requestId);
  } catch {
    // A failing error hook must not leave the call unanswered.
  }
}

function deadlineExceeded(): ConnectError {
  return new ConnectError("deadline exceeded", Code.DeadlineExceeded);
}

/** Why the call's signal was aborted, as the status to answer (if the client is still there to read it). */
function abortReason(signal: AbortSignal): ConnectError {
  const { reason } = signal as { reason: unknown };
  if (reason instanceof ConnectError) return reason.code === Code.DeadlineExceeded ? deadlineExceeded() : reason;
  return new ConnectError("the client cancelled the call", Code.Canceled);
}

/** `work`, unless `signal` aborts first: the answer is then no longer wanted, whatever the handler is waiting for. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Each message of `messages` until `signal` aborts, told to `onEach`; the producer is closed whenever the iteration ends. */
async function* untilAbortedEach<T>(messages: AsyncIterable<T>, signal: AbortSignal, onEach?: () => void): AsyncGenerator<T> {
  const iterator = messages[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await untilAborted(iterator.next(), signal);
      if (next.done === true) return;
      onEach?.();
      yield next.value;
    }
  } finally {
    // Not awaited: a producer waiting on the database finishes that read first.
    iterator.return?.().catch(() => undefined);
  }
}
