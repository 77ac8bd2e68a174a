import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { CustomerSchema, type Customer } from "../gen/chinook/v1/customer_pb";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { adaptService, type ServiceHandlers } from "../src/grpc/adapter";
import { typedClient, type TypedClient } from "../src/client/grpc-js";
import { eventually } from "./support/eventually";
import { bindEphemeral, unusedCustomerHandlers } from "./support/grpc-server";

const SMALL_EXPORT = 2000;
/** Far more than HTTP/2 windows and socket buffers hold together: only backpressure stops the producer early. */
const BULKY_EXPORT = 4000;
const BULKY_COMPANY = "x".repeat(16 * 1024);
/** The request that asks for the bulky export. */
const BULKY = "bulky";

/** What the producer behind the stream did: how far it got, and whether it was closed. */
interface Production {
  yielded: number;
  closed: boolean;
}

async function* customers(count: number, company: string, production: Production): AsyncGenerator<Customer> {
  try {
    for (let id = 1; id <= count; id++) {
      if (id % 100 === 0) await Promise.resolve(); // as a repository does between pages
      production.yielded = id;
      yield create(CustomerSchema, { customerId: BigInt(id), company });
    }
  } finally {
    production.closed = true;
  }
}

async function* whenClosed<T>(messages: AsyncIterable<T>, onClose: () => void): AsyncGenerator<T> {
  try {
    yield* messages;
  } finally {
    onClose();
  }
}

function promiseWithResolvers(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((settle) => (resolve = settle));
  return { promise, resolve };
}

/** Resolves once `read()` has stopped changing across a few polls: the producer is waiting. */
async function settled(read: () => number): Promise<number> {
  let last = -1;
  let unchangedPolls = 0;
  await eventually(() => {
    const now = read();
    unchangedPolls = now === last ? unchangedPolls + 1 : 0;
    last = now;
    return unchangedPolls >= 5;
  });
  return last;
}

describe("writeAll", () => {
  const server = new grpc.Server();
  let production: Production;
  let handlerDone: Promise<void>;
  let client: TypedClient<typeof CustomerService>;

  const handlers: ServiceHandlers<typeof CustomerService> = {
    ...unusedCustomerHandlers(),
    // The adapter writes what the handler yields with writeAll; handlerDone resolves once it closed the producer.
    exportCustomers(request) {
      const bulky = request.country === BULKY;
      const messages = customers(bulky ? BULKY_EXPORT : SMALL_EXPORT, bulky ? BULKY_COMPANY : "", production);
      const { promise, resolve } = promiseWithResolvers();
      handlerDone = promise;
      return whenClosed(messages, resolve);
    },
  };

  beforeAll(async () => {
    const { definition, implementation } = adaptService(CustomerService, handlers);
    server.addService(definition, implementation);
    const port = await bindEphemeral(server);
    client = typedClient(CustomerService, `127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  afterAll(() => {
    client.close();
    server.forceShutdown();
  });

  beforeEach(() => {
    production = { yielded: 0, closed: false };
  });

  it("writes every message in order, then the call ends and the producer is closed", async () => {
    const ids: bigint[] = [];
    for await (const customer of client.exportCustomers({})) ids.push(customer.customerId);

    expect(ids).toEqual(Array.from({ length: SMALL_EXPORT }, (_, i) => BigInt(i + 1)));
    await handlerDone;
    expect(production.closed).toBe(true);
  });

  it("holds the producer back while the client does not read, and resumes with it", async () => {
    const call = client.exportCustomers({ country: BULKY });
    let received = 0;
    call.on("data", () => {
      received += 1;
      if (received === 1) call.pause();
    });
    const outcome = new Promise<string>((resolve) => {
      call.on("end", () => resolve("ended"));
      call.on("error", (error) => resolve(String(error)));
    });

    const yieldedWhilePaused = await settled(() => production.yielded);
    expect(yieldedWhilePaused).toBeLessThan(BULKY_EXPORT / 2);
    expect(production.closed).toBe(false);

    call.resume();
    expect(await outcome).toBe("ended");
    expect(received).toBe(BULKY_EXPORT);
    expect(production.closed).toBe(true);
  });

  it("stops the producer when the client cancels mid-stream", async () => {
    const call = client.exportCustomers({});
    call.on("data", () => call.cancel());
    const outcome = new Promise<number>((resolve) => call.on("error", (error: grpc.ServiceError) => resolve(error.code)));

    expect(await outcome).toBe(grpc.status.CANCELLED);
    await handlerDone;
    expect(production.closed).toBe(true);
    expect(production.yielded).toBeLessThan(SMALL_EXPORT);
  });

  it("stops the producer when the client cancels while the server waits for it to read", async () => {
    const call = client.exportCustomers({ country: BULKY });
    call.once("data", () => call.pause());
    const outcome = new Promise<number>((resolve) => call.on("error", (error: grpc.ServiceError) => resolve(error.code)));
    await settled(() => production.yielded);

    call.cancel();

    expect(await outcome).toBe(grpc.status.CANCELLED);
    await handlerDone;
    expect(production.closed).toBe(true);
    expect(production.yielded).toBeLessThan(BULKY_EXPORT);
  });
});
