import { once } from "node:events";
import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { create, toBinary, type DescMessage, type DescMethod, type MessageInitShape } from "@bufbuild/protobuf";
import { CustomerSchema, type Customer } from "../gen/chinook/v1/customer_pb";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import {
  ServerReflection,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../gen/grpc/reflection/v1/reflection_pb";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb";
import { adaptService, type ServiceHandlers } from "../src/grpc/adapter";
import { typedClient, type TypedClient } from "../src/client/grpc-js";
import { INTERNAL_MESSAGE } from "../src/grpc/status";
import { InvalidArgumentError } from "../src/errors";
import { bindEphemeral, unusedCustomerHandlers } from "./support/grpc-server";
import { failureOf } from "./support/errors";

const INVALID_ID = 0n;
const FAILING_ID = 13n;
const EXPORT_COUNT = 500;
const BEYOND_DOUBLE_PRECISION = 2n ** 63n - 1n;

/** A CustomerService that needs no database: enough to exercise the adapter. */
function fakeCustomerService(getCustomerCalls: bigint[], exportCalls: string[] = []): ServiceHandlers<typeof CustomerService> {
  return {
    ...unusedCustomerHandlers(),
    async getCustomer(request, context) {
      getCustomerCalls.push(request.customerId);
      if (request.customerId === INVALID_ID) {
        throw new InvalidArgumentError("customer_id", "must be positive");
      }
      if (request.customerId === FAILING_ID) {
        throw new Error("SQLITE_CORRUPT: SELECT * FROM customers in /secret/path/chinook.db");
      }
      return {
        customerId: request.customerId,
        firstName: "Echo",
        company: context.requestHeader.get("x-echo") ?? "",
        profile: { favoriteGenreIds: [request.customerId, -request.customerId] },
      };
    },
    async *exportCustomers() {
      exportCalls.push(CustomerService.method.exportCustomers.name);
      for (let id = 1n; id <= BigInt(EXPORT_COUNT); id++) {
        yield create(CustomerSchema, { customerId: id });
      }
    },
    // total_size is an int32: this answer cannot be encoded.
    listCustomers: async () => ({ totalSize: 2 ** 31 }),
  };
}

/**
 * grpc-js clients never send a call whose deadline has passed, so this speaks
 * HTTP/2 directly to deliver one with a timeout that is over on arrival.
 */
async function callWithExpiredDeadline<I extends DescMessage>(
  port: number,
  method: DescMethod & { input: I },
  request: MessageInitShape<I>,
): Promise<{ code: number; message: string }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const stream = session.request({
      ":method": "POST",
      ":path": `/${method.parent.typeName}/${method.name}`,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": "1n",
    });
    stream.end(grpcFrame(toBinary(method.input, create(method.input, request))));
    stream.resume();
    const status = await grpcStatusOf(session, stream);
    return { code: Number(status["grpc-status"]), message: decodeURIComponent(String(status["grpc-message"])) };
  } finally {
    session.close();
  }
}

/** The status arrives in the trailers, or in the headers of a trailers-only answer. */
function grpcStatusOf(
  session: http2.ClientHttp2Session,
  stream: http2.ClientHttp2Stream,
): Promise<http2.IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    const resolveOnStatus = (headers: http2.IncomingHttpHeaders) => {
      if (headers["grpc-status"] !== undefined) resolve(headers);
    };
    stream.on("response", resolveOnStatus);
    stream.on("trailers", resolveOnStatus);
    stream.on("error", reject);
    stream.on("close", () => reject(new Error("stream closed without a gRPC status")));
    session.on("error", reject);
  });
}

function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

describe("protobuf-es service adapter", () => {
  const server = new grpc.Server();
  const getCustomerCalls: bigint[] = [];
  const exportCalls: string[] = [];
  const reportedErrors: { method: DescMethod; error: unknown }[] = [];
  let client: TypedClient<typeof CustomerService>;
  let port: number;

  beforeAll(async () => {
    const { definition, implementation } = adaptService(CustomerService, fakeCustomerService(getCustomerCalls, exportCalls), {
      onError: (method, error) => reportedErrors.push({ method, error }),
    });
    server.addService(definition, implementation);
    port = await bindEphemeral(server);
    client = typedClient(CustomerService, `127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  afterAll(() => {
    client.close();
    server.forceShutdown();
  });

  beforeEach(() => {
    getCustomerCalls.length = 0;
    exportCalls.length = 0;
    reportedErrors.length = 0;
  });

  it("answers a unary call with a message of the output type", async () => {
    const customer: Customer = await client.getCustomer({ customerId: 42n });

    expect(customer.$typeName).toBe("chinook.v1.Customer");
    expect(customer.customerId).toBe(42n);
    expect(customer.firstName).toBe("Echo");
  });

  it("round-trips int64 values beyond 2^53 exactly as bigint", async () => {
    const customer = await client.getCustomer({ customerId: BEYOND_DOUBLE_PRECISION });

    expect(customer.customerId).toBe(BEYOND_DOUBLE_PRECISION);
    expect(customer.profile?.favoriteGenreIds).toEqual([BEYOND_DOUBLE_PRECISION, -BEYOND_DOUBLE_PRECISION]);
  });

  it("answers a domain error with its status and its client-facing message", async () => {
    const error = await failureOf(client.getCustomer({ customerId: INVALID_ID }));

    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toBe("customer_id: must be positive");
    expect(reportedErrors.map(({ error }) => error)).toEqual([expect.any(InvalidArgumentError)]);
  });

  it("answers an unexpected error with INTERNAL and a generic message, reporting the detail", async () => {
    const error = await failureOf(client.getCustomer({ customerId: FAILING_ID }));

    expect(error.code).toBe(grpc.status.INTERNAL);
    expect(error.details).toBe(INTERNAL_MESSAGE);
    expect(error.message).not.toMatch(/SQLITE|SELECT|secret/);
    expect(reportedErrors).toHaveLength(1);
    expect(reportedErrors[0]?.method.name).toBe("GetCustomer");
    expect(String(reportedErrors[0]?.error)).toMatch(/SQLITE_CORRUPT/);
  });

  it("streams every message a server-streaming handler writes, then ends the call", async () => {
    const ids: bigint[] = [];
    for await (const customer of client.exportCustomers({})) {
      ids.push(customer.customerId);
    }

    expect(ids).toHaveLength(EXPORT_COUNT);
    expect(ids[0]).toBe(1n);
    expect(ids.at(-1)).toBe(BigInt(EXPORT_COUNT));
  });

  it("reports an answer that cannot be encoded, which grpc-js fails INTERNAL past the interceptors", async () => {
    const error = await failureOf(client.listCustomers({}));

    expect(error.code).toBe(grpc.status.INTERNAL);
    expect(reportedErrors.map(({ method }) => method.name)).toEqual(["ListCustomers"]);
  });

  it("answers DEADLINE_EXCEEDED without calling a unary handler when the deadline is over on arrival", async () => {
    const answer = await callWithExpiredDeadline(port, CustomerService.method.getCustomer, { customerId: 1n });

    expect(answer.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(getCustomerCalls).toEqual([]);
  });

  it("answers DEADLINE_EXCEEDED without calling a streaming handler when the deadline is over on arrival", async () => {
    const answer = await callWithExpiredDeadline(port, CustomerService.method.exportCustomers, {});

    expect(answer.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(exportCalls).toEqual([]);
  });

  it("gives the handler the request metadata", async () => {
    const metadata = new grpc.Metadata();
    metadata.set("x-echo", "abc");

    await expect(client.getCustomer({ customerId: 7n }, { metadata })).resolves.toMatchObject({ company: "abc" });
  });

  it("refuses at registration time a service with a client-streaming method", () => {
    const clientStreaming = { ...CustomerService.method.getCustomer, methodKind: "client_streaming" as const };
    const service = { ...CustomerService, methods: [clientStreaming] };

    expect(() => adaptService(service, fakeCustomerService([]))).toThrow(/client streaming/);
  });

  it("refuses at registration time a handler object that lacks a method", () => {
    const incomplete = { ...fakeCustomerService([]), getCustomer: undefined };

    expect(() =>
      adaptService(CustomerService, incomplete as unknown as ServiceHandlers<typeof CustomerService>),
    ).toThrow(/GetCustomer/);
  });
});

/** Any bidi service will do: reflection's messages carry a host string to echo. */
describe("protobuf-es service adapter, bidi streaming", () => {
  const server = new grpc.Server();
  const reportedErrors: { method: DescMethod; error: unknown }[] = [];
  const onError = (method: DescMethod, error: unknown) => reportedErrors.push({ method, error });
  let client: TypedClient<typeof ServerReflection>;
  let misusingClient: TypedClient<typeof v1alpha.ServerReflection>;

  beforeAll(async () => {
    const echo = adaptService(
      ServerReflection,
      {
        async serverReflectionInfo(call) {
          const requests: AsyncIterable<ServerReflectionRequest> = call.iterator({ destroyOnReturn: false });
          for await (const request of requests) {
            call.write(create(ServerReflection.method.serverReflectionInfo.output, { validHost: request.host }));
          }
        },
      },
      { onError },
    );
    const destroyingEcho = adaptService(
      v1alpha.ServerReflection,
      {
        async serverReflectionInfo(call) {
          const requests: AsyncIterable<v1alpha.ServerReflectionRequest> = call.iterator({ destroyOnReturn: false });
          for await (const request of requests) {
            call.write(create(v1alpha.ServerReflectionResponseSchema, { validHost: request.host }));
          }
          // The mistake under test. Before Node 24, iterating the call itself did this when the loop ended.
          call.destroy();
        },
      },
      { onError },
    );
    for (const { definition, implementation } of [echo, destroyingEcho]) server.addService(definition, implementation);
    const address = `127.0.0.1:${await bindEphemeral(server)}`;
    client = typedClient(ServerReflection, address, grpc.credentials.createInsecure());
    misusingClient = typedClient(v1alpha.ServerReflection, address, grpc.credentials.createInsecure());
  });

  afterAll(() => {
    client.close();
    misusingClient.close();
    server.forceShutdown();
  });

  beforeEach(() => {
    reportedErrors.length = 0;
  });

  it("answers each request and ends with OK once the client half-closes", async () => {
    const stream = client.serverReflectionInfo();
    const status = once(stream, "status");
    stream.write({ host: "a" });
    stream.write({ host: "b" });
    stream.end();
    const responses: AsyncIterable<ServerReflectionResponse> = stream;
    const hosts: string[] = [];
    for await (const response of responses) hosts.push(response.validHost);

    expect(hosts).toEqual(["a", "b"]);
    expect(await status).toEqual([expect.objectContaining({ code: grpc.status.OK })]);
    expect(reportedErrors).toEqual([]);
  });

  it("reports a handler that destroyed its call, as no status can reach the client", async () => {
    const stream = misusingClient.serverReflectionInfo();
    stream.on("error", () => undefined);
    stream.write({ host: "a" });
    stream.end();
    await waitFor(() => reportedErrors.length > 0);
    stream.cancel();

    expect(reportedErrors[0]?.method.parent.typeName).toBe("grpc.reflection.v1alpha.ServerReflection");
    expect(String(reportedErrors[0]?.error)).toMatch(/destroyed its call/);
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 100 && !condition(); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
