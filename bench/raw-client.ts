import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, DescMethod, MessageInitShape } from "@bufbuild/protobuf";
import { methodPath } from "../src/grpc/adapter";

/**
 * The load generator's client: grpc-js calls whose responses stay as the
 * bytes that arrived. Decoding every response cost the load generator about
 * a fifth of its CPU per call, on the same two cores as the server it
 * measures; only one response in `verifyEvery` is decoded, which still fails
 * the run if a server answers something that is not the method's message.
 */
export class RawClient {
  private readonly client: grpc.Client;
  private responses = 0;

  constructor(
    target: string,
    private readonly verifyEvery = 1024,
  ) {
    // No channelz: nobody reads the load generator's call statistics.
    this.client = new grpc.Client(target, grpc.credentials.createInsecure(), { "grpc.enable_channelz": 0 });
  }

  unary<I extends DescMessage>(
    method: DescMethod & { input: I },
    request: MessageInitShape<I>,
    options: grpc.CallOptions,
  ): Promise<Buffer> {
    const bytes = encoded(method.input, request);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        methodPath(method),
        asIs,
        (response: Buffer) => this.checked(method.output, response),
        bytes,
        new grpc.Metadata(),
        options,
        (error, response) => {
          if (error) reject(error);
          else if (response === undefined) reject(new Error(`${methodPath(method)}: empty response`));
          else resolve(response);
        },
      );
    });
  }

  serverStream<I extends DescMessage>(
    method: DescMethod & { input: I },
    request: MessageInitShape<I>,
  ): grpc.ClientReadableStream<Buffer> {
    return this.client.makeServerStreamRequest(
      methodPath(method),
      asIs,
      (response: Buffer) => this.checked(method.output, response),
      encoded(method.input, request),
      new grpc.Metadata(),
      {},
    );
  }

  close(): void {
    this.client.close();
  }

  /** A response that does not decode fails its call, as it would in a real client. */
  private checked(schema: DescMessage, response: Buffer): Buffer {
    this.responses++;
    if (this.responses % this.verifyEvery === 1) fromBinary(schema, response);
    return response;
  }
}

function encoded<I extends DescMessage>(schema: I, request: MessageInitShape<I>): Buffer {
  const bytes = toBinary(schema, create(schema, request));
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function asIs(bytes: Buffer): Buffer {
  return bytes;
}
