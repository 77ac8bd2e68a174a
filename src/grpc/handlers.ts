import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";

/**
 * What a handler knows of its call, whichever door it came through: the
 * native gRPC port (src/grpc/adapter.ts) or the HTTP one (src/http/routes.ts).
 * Connect's own HandlerContext is one.
 */
export interface CallContext {
  /** Aborted once the answer is no longer wanted: the client left, the deadline passed, or the server stopped. */
  readonly signal: AbortSignal;
  /** The request's headers (gRPC metadata), names in lowercase. */
  readonly requestHeader: Headers;
}

/**
 * Sees every error a handler threw, with its call's request id (undefined
 * where the door has none); the caller decides what is worth logging. The id
 * is passed, not found in the request context: the context reaches below the
 * handlers only where something there needs it (RpcObserverOptions).
 */
export type HandlerErrorHook = (method: DescMethod, error: unknown, requestId: string | undefined) => void;

export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  context: CallContext,
) => Promise<MessageInitShape<O>>;

/**
 * Yields the messages to send; each door writes them out as its client takes
 * them, so an async generator is held back at its `yield` by a slow client,
 * and is closed (its `finally` runs) when the call ends early.
 */
export type ServerStreamingHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  context: CallContext,
) => AsyncIterable<MessageInitShape<O>>;

/** The handler type for one unary or server-streaming method descriptor, chosen by its kind. */
export type MethodHandler<M> = M extends {
  methodKind: "unary";
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? UnaryHandler<I, O>
  : M extends {
        methodKind: "server_streaming";
        input: infer I extends DescMessage;
        output: infer O extends DescMessage;
      }
    ? ServerStreamingHandler<I, O>
    : never;

/** One handler per method of a generated service, keyed by the method's local name: what every door serves. */
export type ServiceHandlers<S extends DescService> = {
  [K in keyof S["method"]]: MethodHandler<S["method"][K]>;
};
