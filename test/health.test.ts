import { status as GrpcStatus, type ClientReadableStream } from "@grpc/grpc-js";
import { renameSync } from "node:fs";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { InvoiceService } from "../gen/chinook/v1/invoice_service_pb";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckResponse,
} from "../gen/grpc/health/v1/health_pb";
import { sqliteDatabaseOf, startTestServer, type TestServer } from "./support/server";
import { readAll } from "./support/streams";

const WAIT_MS = 5000;

function withinBound<T>(promise: Promise<T>, waitingFor: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${waitingFor} within ${WAIT_MS} ms`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Reads a Watch stream one status at a time; `end()` resolves with how the stream ended. */
function watching(stream: ClientReadableStream<HealthCheckResponse>) {
  const responses: AsyncIterable<HealthCheckResponse> = stream;
  const iterator = responses[Symbol.asyncIterator]();
  return {
    async next(): Promise<ServingStatus> {
      const next = await withinBound(iterator.next(), "status on the Watch stream");
      if (next.done === true) throw new Error("the Watch stream ended");
      return next.value.status;
    },
    async end(): Promise<string> {
      try {
        const next = await withinBound(iterator.next(), "end of the Watch stream");
        return next.done === true ? "ended" : `another status: ${ServingStatus[next.value.status]}`;
      } catch (error) {
        return `failed: ${GrpcStatus[codeOf(error)]}`;
      }
    },
  };
}

function codeOf(error: unknown): number {
  const code: unknown = typeof error === "object" && error !== null ? Reflect.get(error, "code") : undefined;
  if (typeof code !== "number") throw error;
  return code;
}

/** Takes the database file away under the running server, for real, until `restore()`. */
function takeDatabaseAway(server: TestServer): { restore(): void } {
  const { path } = sqliteDatabaseOf(server.app);
  renameSync(path, `${path}.away`);
  return { restore: () => renameSync(`${path}.away`, path) };
}

describe("health", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server.stop();
  });

  it.each(["", "chinook.v1.CustomerService", "chinook.v1.InvoiceService"])("Check(%j) is SERVING", async (service) => {
    const response = await server.client(Health).check({ service });
    expect(response.status).toBe(ServingStatus.SERVING);
  });

  it("Check of an unknown service is NOT_FOUND", async () => {
    await expect(server.client(Health).check({ service: "chinook.v1.NoSuchService" })).rejects.toMatchObject({
      code: GrpcStatus.NOT_FOUND,
    });
  });

  it("Watch of an unknown service streams SERVICE_UNKNOWN", async () => {
    const stream = server.client(Health).watch({ service: "chinook.v1.NoSuchService" });
    try {
      expect(await watching(stream).next()).toBe(ServingStatus.SERVICE_UNKNOWN);
    } finally {
      stream.cancel();
    }
  });

  it("keeps nothing for a Watch of an unknown service once it ends, whatever names clients send", async () => {
    // grpc-health-check's own handler kept an entry per name ever watched.
    const watchedNames = (): unknown => Reflect.get(server.app.health.implementation, "watchers");
    const before = new Map(watchedNames() as Map<string, unknown>);
    for (let index = 0; index < 5; index++) {
      const stream = server.client(Health).watch({ service: `no.such.Service${index}` });
      expect(await watching(stream).next()).toBe(ServingStatus.SERVICE_UNKNOWN);
      stream.cancel();
    }

    expect([...(watchedNames() as Map<string, unknown>).keys()]).toEqual([...before.keys()]);
  });

  it("refuses customer and invoice calls UNAVAILABLE while the database is unreachable, then serves them", async () => {
    const customers = server.client(CustomerService);
    const invoices = server.client(InvoiceService);
    const before = await customers.listCustomers({ showDeleted: true });

    const database = takeDatabaseAway(server);
    try {
      expect(await server.app.health.check()).toBe(false);
      const unavailable = { code: GrpcStatus.UNAVAILABLE, details: expect.stringMatching(/database/) };
      await expect(customers.getCustomer({ customerId: 1n })).rejects.toMatchObject(unavailable);
      const customer = { firstName: "Lost", lastName: "Write", email: "lost.write@example.test" };
      await expect(customers.createCustomer({ customer })).rejects.toMatchObject(unavailable);
      await expect(invoices.getInvoice({ invoiceId: 1n })).rejects.toMatchObject(unavailable);
      await expect(readAll(customers.exportCustomers({}))).rejects.toMatchObject(unavailable);
      expect((await server.client(Health).check({ service: "" })).status).toBe(ServingStatus.NOT_SERVING);
    } finally {
      database.restore();
    }

    expect(await server.app.health.check()).toBe(true);
    expect((await customers.getCustomer({ customerId: 1n })).customerId).toBe(1n);
    expect((await customers.listCustomers({ showDeleted: true })).totalSize).toBe(before.totalSize);
  });

  it("Watch streams NOT_SERVING while the database is unreachable, then SERVING again", async () => {
    const health = server.client(Health);
    const stream = health.watch({ service: "" });
    const statuses = watching(stream);
    try {
      expect(await statuses.next()).toBe(ServingStatus.SERVING);

      const database = takeDatabaseAway(server);
      try {
        expect(await server.app.health.check()).toBe(false);
        expect(await statuses.next()).toBe(ServingStatus.NOT_SERVING);
        const { status } = await health.check({ service: "chinook.v1.CustomerService" });
        expect(status).toBe(ServingStatus.NOT_SERVING);
      } finally {
        database.restore();
      }

      expect(await server.app.health.check()).toBe(true);
      expect(await statuses.next()).toBe(ServingStatus.SERVING);
      expect((await health.check({ service: "chinook.v1.InvoiceService" })).status).toBe(ServingStatus.SERVING);
    } finally {
      stream.cancel();
    }
  });
});

describe("health during shutdown", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ SHUTDOWN_GRACE_MS: "60000" });
  });

  afterAll(async () => {
    await server.stop();
  });

  it("ends a watcher's stream with OK after NOT_SERVING, so shutdown does not wait the grace period for it", async () => {
    const statuses = watching(server.client(Health).watch({ service: "" }));
    expect(await statuses.next()).toBe(ServingStatus.SERVING);

    const stopped = server.app.stop();
    expect(await statuses.next()).toBe(ServingStatus.NOT_SERVING);
    expect(await statuses.end()).toBe("ended");
    await withinBound(stopped, "end of app.stop() well inside its 60 s grace period");
    // Once the database is closed the probe cannot bring SERVING back.
    expect(await server.app.health.check()).toBe(false);
  });
});
