/**
 * The service's clients for programs built on grpc-js, `import … from
 * "chinook-grpc/grpc-js"`: typed from the same generated descriptors as
 * `chinook-grpc/client`, with grpc-js's channel options, credentials,
 * interceptors and call objects (for its client-side load balancing, service
 * config and keepalive). The end-to-end tests use it, beside the Connect-ES
 * client, to see the wire as grpc-js sees it (trailers-only answers, raw
 * metadata, connection limits).
 */
import * as grpc from "@grpc/grpc-js";
import type {
  DescMessage,
  DescMethod,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import { serviceDefinition, type GrpcMethodDefinition, type MessageOrInit } from "../grpc/adapter";

/** grpc-js call options (deadline, credentials, interceptors…) plus the request metadata. */
export interface CallOptions extends grpc.CallOptions {
  metadata?: grpc.Metadata;
}

/** Resolves with the response; rejects with the grpc-js `ServiceError`. */
export type UnaryMethod<I extends DescMessage, O extends DescMessage> = (
  request: MessageInitShape<I>,
  options?: CallOptions,
) => Promise<MessageShape<O>>;

/** The returned stream is async-iterable and emits the call's `ServiceError` on failure. */
export type ServerStreamingMethod<I extends DescMessage, O extends DescMessage> = (
  request: MessageInitShape<I>,
  options?: CallOptions,
) => grpc.ClientReadableStream<MessageShape<O>>;

export type BidiStreamingMethod<I extends DescMessage, O extends DescMessage> = (
  options?: CallOptions,
) => grpc.ClientDuplexStream<MessageInitShape<I>, MessageShape<O>>;

/** The client method type for one method descriptor, chosen by its kind. */
export type ClientMethod<M> = M extends {
  methodKind: "unary";
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? UnaryMethod<I, O>
  : M extends {
        methodKind: "server_streaming";
        input: infer I extends DescMessage;
        output: infer O extends DescMessage;
      }
    ? ServerStreamingMethod<I, O>
    : M extends {
          methodKind: "bidi_streaming";
          input: infer I extends DescMessage;
          output: infer O extends DescMessage;
        }
      ? BidiStreamingMethod<I, O>
      : never;

/** One method per RPC, keyed by the method's local name, plus `close()`. */
export type TypedClient<S extends DescService> = {
  [K in keyof S["method"]]: ClientMethod<S["method"][K]>;
} & { close(): void };

type LooseUnaryMethod = (request: MessageOrInit, options?: CallOptions) => Promise<MessageOrInit>;
type LooseServerStreamingMethod = (
  request: MessageOrInit,
  options?: CallOptions,
) => grpc.ClientReadableStream<MessageOrInit>;
type LooseBidiStreamingMethod = (options?: CallOptions) => grpc.ClientDuplexStream<MessageOrInit, MessageOrInit>;
type LooseClientMethod = LooseUnaryMethod | LooseServerStreamingMethod | LooseBidiStreamingMethod;

/** A client for a protobuf-es service, typed from its descriptor. */
export function typedClient<S extends DescService>(
  service: S,
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
): TypedClient<S> {
  const definition = serviceDefinition(service);
  const GenericClient = grpc.makeGenericClientConstructor(definition, service.typeName);
  const client = new GenericClient(address, credentials, options);
  const methods = service.methods.map((method) => {
    assertNotReserved(method);
    return [method.localName, clientMethod(client, method, definitionOf(definition, method))] as const;
  });
  // The one cast: TypedClient<S> is the per-method view of exactly these functions.
  return { ...Object.fromEntries(methods), close: () => client.close() } as unknown as TypedClient<S>;
}

function assertNotReserved(method: DescMethod): void {
  if (method.localName === "close") {
    throw new Error(`${method.parent.typeName}.${method.name} clashes with the client's close()`);
  }
}

function definitionOf(definition: Record<string, GrpcMethodDefinition>, method: DescMethod): GrpcMethodDefinition {
  const methodDefinition = definition[method.localName];
  if (methodDefinition === undefined) {
    throw new Error(`no definition for ${method.parent.typeName}.${method.name}`);
  }
  return methodDefinition;
}

function clientMethod(client: grpc.Client, method: DescMethod, definition: GrpcMethodDefinition): LooseClientMethod {
  switch (method.methodKind) {
    case "unary":
      return unaryMethod(client, definition);
    case "server_streaming":
      return serverStreamingMethod(client, definition);
    case "bidi_streaming":
      return bidiStreamingMethod(client, definition);
    case "client_streaming":
      throw new Error(`client streaming is not supported: ${method.parent.typeName}.${method.name}`);
  }
}

function unaryMethod(client: grpc.Client, definition: GrpcMethodDefinition): LooseUnaryMethod {
  return (request, options = {}) =>
    new Promise((resolve, reject) => {
      const { metadata = new grpc.Metadata(), ...callOptions } = options;
      client.makeUnaryRequest(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize,
        request,
        metadata,
        callOptions,
        (error, response) => {
          if (error) reject(error);
          else if (response === undefined) reject(new Error(`${definition.path}: empty response`));
          else resolve(response);
        },
      );
    });
}

function serverStreamingMethod(client: grpc.Client, definition: GrpcMethodDefinition): LooseServerStreamingMethod {
  return (request, options = {}) => {
    const { metadata = new grpc.Metadata(), ...callOptions } = options;
    return client.makeServerStreamRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      request,
      metadata,
      callOptions,
    );
  };
}

function bidiStreamingMethod(client: grpc.Client, definition: GrpcMethodDefinition): LooseBidiStreamingMethod {
  return (options = {}) => {
    const { metadata = new grpc.Metadata(), ...callOptions } = options;
    return client.makeBidiStreamRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      metadata,
      callOptions,
    );
  };
}
