import * as grpc from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { CustomerSchema } from "../gen/chinook/v1/customer_pb";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { RawClient } from "../bench/raw-client";
import { methodPath } from "../src/grpc/adapter";
import { bind, createGrpcServer } from "../src/grpc/server";

const CUSTOMER_BYTES = Buffer.from(toBinary(CustomerSchema, create(CustomerSchema, { customerId: 7n, email: "a@b.c" })));
/** Field 1 as a length-delimited value 127 bytes long, with 1 byte following: no Customer decodes from it. */
const NOT_A_CUSTOMER = Buffer.from([0x0a, 0x7f, 0x01]);

/** A server answering GetCustomer with whatever bytes it is given, unchecked. */
async function serverAnswering(answers: Buffer[]): Promise<{ address: string; stop: () => void }> {
  const server = createGrpcServer([]);
  const asIs = (bytes: Buffer): Buffer => bytes;
  server.register<Buffer, Buffer>(
    methodPath(CustomerService.method.getCustomer),
    (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
      callback(null, answers.shift() ?? CUSTOMER_BYTES),
    asIs,
    asIs,
    "unary",
  );
  const port = await bind(server, "127.0.0.1:0", grpc.ServerCredentials.createInsecure());
  return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

describe("the load generator's client", () => {
  it("hands back a response's bytes undecoded", async () => {
    const server = await serverAnswering([CUSTOMER_BYTES]);
    const client = new RawClient(server.address);
    try {
      const response = await client.unary(CustomerService.method.getCustomer, { customerId: 7n }, {});
      expect(Buffer.compare(response, CUSTOMER_BYTES)).toBe(0);
    } finally {
      client.close();
      server.stop();
    }
  });

  it("fails a call whose response it verifies and cannot decode, as a real client would", async () => {
    const server = await serverAnswering([NOT_A_CUSTOMER, NOT_A_CUSTOMER]);
    const client = new RawClient(server.address, 2);
    try {
      const getCustomer = () => client.unary(CustomerService.method.getCustomer, { customerId: 7n }, {});
      await expect(getCustomer()).rejects.toMatchObject({ code: grpc.status.INTERNAL });
      // The second response is not verified: the generator pays for decoding 1 in `verifyEvery`.
      await expect(getCustomer()).resolves.toEqual(NOT_A_CUSTOMER);
    } finally {
      client.close();
      server.stop();
    }
  });
});
