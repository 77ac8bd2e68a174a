import * as grpc from "@grpc/grpc-js";
import { create, fromBinary } from "@bufbuild/protobuf";
import type {
  DescMessage,
  DescMethod,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import { encodeOnce } from "./frozen-messages";
import { REQUEST_ID_KEY } from "../request-context";
import type { CallContext, HandlerErrorHook, MethodHandler as NeutralMethodHandler } from "./handlers";
import { deadlineHasPassed, serviceError, toServiceError } from "./status";
import { writeAll } from "./streams";
import { wireEncoder } from "./wire-encoder";

/** A message, or a plain object that `create()` turns into one. */
export type MessageOrInit = MessageInitShape<DescMessage>;

/** What grpc-js needs to (de)serialize one method, on the server and on the client. */
export type GrpcMethodDefinition = grpc.MethodDefinition<MessageOrInit, MessageOrInit>;

/**
 * Read requests with `call.iterator({ destroyOnReturn: false })`: a plain
 * `for await (… of call)` destroys the call when the loop ends, so the final
 * status is never sent and the client hangs. Served on the gRPC door only
 * (reflection), so typed against grpc-js.
 */
export type BidiStreamingHandler<I extends DescMessage, O extends DescMessage> = (
  call: grpc.ServerDuplexStream<MessageShape<I>, MessageShape<O>>,
) => Promise<void>;

/** The handler type for one method descriptor: a door-neutral one, or a grpc-js one for bidi streaming. */
export type MethodHandler<M> = M extends {
  methodKind: "bidi_streaming";
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? BidiStreamingHandler<I, O>
  : NeutralMethodHandler<M>;

/** One handler per method of a generated service, keyed by the method's local name. */
export type ServiceHandlers<S extends DescService> = {
  [K in keyof S["method"]]: MethodHandler<S["method"][K]>;
};

export interface AdapterOptions {
  /** Sees every error a handler threw, with the request id RpcObserver put in the call's metadata. */
  onError?: HandlerErrorHook;
  /**
   * Sees why a request body did not decode. grpc-js answers such a call
   * INTERNAL itself, below the interceptors, which are only told of a cancel.
   */
  onUndecodableRequest?: (method: DescMethod, error: unknown) => void;
}

/** The two arguments of `grpc.Server#addService`. */
export interface GrpcService {
  readonly service: DescService;
  readonly definition: grpc.ServiceDefinition;
  readonly implementation: grpc.UntypedServiceImplementation;
}

type LooseUnaryHandler = (request: MessageOrInit, context: CallContext) => Promise<MessageOrInit>;
type LooseServerStreamingHandler = (request: MessageOrInit, context: CallContext) => AsyncIterable<MessageOrInit>;
type LooseBidiStreamingHandler = (
  call: grpc.ServerDuplexStream<MessageOrInit, MessageOrInit>,
) => Promise<void>;

type SurfaceCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, "cancelled" | "getDeadline" | "metadata">;
type StreamingCall =
  | grpc.ServerWritableStream<MessageOrInit, MessageOrInit>
  | grpc.ServerDuplexStream<MessageOrInit, MessageOrInit>;

/** The grpc-js service definition of a protobuf-es service; shared by server and client. */
export function serviceDefinition(service: DescService): Record<string, GrpcMethodDefinition> {
  return Object.fromEntries(service.methods.map((method) => [method.localName, methodDefinition(method)]));
}

function methodDefinition(method: DescMethod): GrpcMethodDefinition {
  return {
    path: methodPath(method),
    originalName: method.name,
    requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
    responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
    requestSerialize: serializerFor(method.input),
    requestDeserialize: deserializerFor(method.input),
    responseSerialize: serializerFor(method.output),
    responseDeserialize: deserializerFor(method.output),
  };
}

export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

function serializerFor(schema: DescMessage): grpc.serialize<MessageOrInit> {
  const encode = wireEncoder(schema);
  // grpc-js copies what a serializer returns into its own frame, so a remembered encoding can be returned again.
  return (value) => encodeOnce(create(schema, value), encode);
}

function deserializerFor(schema: DescMessage): grpc.deserialize<MessageOrInit> {
  return (bytes) => fromBinary(schema, bytes);
}

/** Turns a generated service descriptor and its typed handlers into what `addService` takes. */
export function adaptService<S extends DescService>(
  service: S,
  handlers: ServiceHandlers<S>,
  options: AdapterOptions = {},
): GrpcService {
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    implementation[method.localName] = adaptMethod(method, handlerOf(handlers, method), options);
  }
  return { service, definition: reportingCodecErrors(service, options), implementation };
}

/**
 * The service's definition, whose request deserializers and response
 * serializers report what they throw: grpc-js answers INTERNAL below the
 * interceptors, which only see the call end.
 */
function reportingCodecErrors(service: DescService, options: AdapterOptions): grpc.ServiceDefinition {
  const definition = serviceDefinition(service);
  for (const method of service.methods) {
    const methodDefinition = definition[method.localName];
    if (methodDefinition === undefined) continue;
    const { requestDeserialize: deserialize, responseSerialize: serialize } = methodDefinition;
    definition[method.localName] = {
      ...methodDefinition,
      requestDeserialize: (bytes) => {
        try {
          return deserialize(bytes);
        } catch (error) {
          reportUndecodable(options, method, error);
          throw error;
        }
      },
      responseSerialize: (value) => {
        try {
          return serialize(value);
        } catch (error) {
          reportError(options, method, error, undefined);
          throw error;
        }
      },
    };
  }
  return definition;
}

function handlerOf(handlers: object, method: DescMethod): unknown {
  const handler: unknown = Reflect.get(handlers, method.localName);
  if (typeof handler !== "function") {
    throw new Error(`no handler for ${method.parent.typeName}.${method.name}`);
  }
  return handler;
}

// The casts below are the one place where descriptor-level code meets the typed
// handlers: ServiceHandlers<S> guarantees each handler matches its method's kind.
function adaptMethod(method: DescMethod, handler: unknown, options: AdapterOptions): grpc.UntypedHandleCall {
  switch (method.methodKind) {
    case "unary":
      return adaptUnary(method, handler as LooseUnaryHandler, options);
    case "server_streaming":
      return adaptServerStreaming(method, handler as LooseServerStreamingHandler, options);
    case "bidi_streaming":
      return adaptBidiStreaming(method, handler as LooseBidiStreamingHandler, options);
    case "client_streaming":
      throw new Error(`client streaming is not supported: ${method.parent.typeName}.${method.name}`);
  }
}

function adaptUnary(
  method: DescMethod,
  handler: LooseUnaryHandler,
  options: AdapterOptions,
): grpc.handleUnaryCall<MessageOrInit, MessageOrInit> {
  return (call, callback) => {
    void answerUnary(method, () => handler(call.request, new GrpcCallContext(call)), call, callback, options);
  };
}

async function answerUnary(
  method: DescMethod,
  invoke: () => Promise<MessageOrInit>,
  call: SurfaceCall,
  callback: grpc.sendUnaryData<MessageOrInit>,
  options: AdapterOptions,
): Promise<void> {
  if (deadlineHasPassed(call.getDeadline())) {
    callback(deadlineExceeded());
    return;
  }
  let outcome: { response: MessageOrInit } | { error: grpc.ServiceError };
  try {
    outcome = { response: create(method.output, await invoke()) };
  } catch (error) {
    reportError(options, method, error, requestIdOf(call));
    outcome = { error: toServiceError(error) };
  }
  // The client is gone: grpc-js would drop the answer anyway, just more noisily.
  if (call.cancelled) return;
  if ("error" in outcome) callback(outcome.error);
  else callback(null, outcome.response);
}

function adaptServerStreaming(
  method: DescMethod,
  handler: LooseServerStreamingHandler,
  options: AdapterOptions,
): grpc.handleServerStreamingCall<MessageOrInit, MessageOrInit> {
  return (call) => {
    void answerStreaming(method, () => writeAll(call, handler(call.request, new GrpcCallContext(call))), call, options);
  };
}

function adaptBidiStreaming(
  method: DescMethod,
  handler: LooseBidiStreamingHandler,
  options: AdapterOptions,
): grpc.handleBidiStreamingCall<MessageOrInit, MessageOrInit> {
  return (call) => {
    void answerStreaming(method, () => handler(call), call, options);
  };
}

async function answerStreaming(
  method: DescMethod,
  invoke: () => Promise<void>,
  call: StreamingCall,
  options: AdapterOptions,
): Promise<void> {
  if (deadlineHasPassed(call.getDeadline())) {
    failStream(call, deadlineExceeded());
    return;
  }
  try {
    await invoke();
    endStream(method, call, options);
  } catch (error) {
    // After a cancellation the handler typically fails on its destroyed stream:
    // that is the client leaving, not a fault worth reporting.
    if (call.cancelled) return;
    reportError(options, method, error, requestIdOf(call));
    failStream(call, toServiceError(error));
  }
}

function endStream(method: DescMethod, call: StreamingCall, options: AdapterOptions): void {
  if (call.cancelled || call.writableEnded) return;
  if (call.destroyed) {
    // Otherwise the client waits for a status that can no longer be sent, silently.
    reportError(options, method, new Error("the handler destroyed its call (plain for-await?): no status sent"), requestIdOf(call));
    return;
  }
  call.end();
}

/** grpc-js turns an 'error' event on a server stream into the call's final status. */
function failStream(call: StreamingCall, error: grpc.ServiceError): void {
  call.emit("error", error);
}

/**
 * A grpc-js call seen as a CallContext. Its signal and headers are made on a
 * handler's first look: most handlers never look, and every GetCustomer
 * would pay for them.
 */
class GrpcCallContext implements CallContext {
  private abort: AbortController | undefined;
  private headers: Headers | undefined;

  constructor(private readonly call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>) {}

  /** grpc-js emits 'cancelled' when the client cancels, the deadline passes, or the server ends the call. */
  get signal(): AbortSignal {
    if (this.abort === undefined) {
      const abort = new AbortController();
      if (this.call.cancelled) abort.abort();
      else this.call.once("cancelled", () => abort.abort());
      this.abort = abort;
    }
    return this.abort.signal;
  }

  get requestHeader(): Headers {
    this.headers ??= headersOf(this.call.metadata);
    return this.headers;
  }
}

/** Binary (-bin) values in base64, as gRPC metadata writes them on the wire. */
function headersOf(metadata: grpc.Metadata): Headers {
  const headers = new Headers();
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    for (const value of values) headers.append(key, typeof value === "string" ? value : value.toString("base64"));
  }
  return headers;
}

/** The id RpcObserver chose for the call; undefined on a server without it. */
function requestIdOf(call: Pick<SurfaceCall, "metadata">): string | undefined {
  const [id] = call.metadata.get(REQUEST_ID_KEY);
  return typeof id === "string" ? id : undefined;
}

function deadlineExceeded(): grpc.ServiceError {
  return serviceError(grpc.status.DEADLINE_EXCEEDED, "deadline exceeded");
}

function reportError(options: AdapterOptions, method: DescMethod, error: unknown, requestId: string | undefined): void {
  try {
    options.onError?.(method, error, requestId);
  } catch {
    // A failing error hook must not leave the call unanswered.
  }
}

function reportUndecodable(options: AdapterOptions, method: DescMethod, error: unknown): void {
  try {
    options.onUndecodableRequest?.(method, error);
  } catch {
    // grpc-js answers the call whatever the hook does.
  }
}
