import { randomBytes, randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { InvoiceService } from "../gen/chinook/v1/invoice_service_pb";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb";
import { parseSamples, sampleValue } from "./support/prometheus";
import { sqliteDatabaseOf, startTestServer, type TestServer } from "./support/server";
import { failureOf } from "./support/errors";

const PINO_ERROR = 50;

/** Notes that need pages of their own (the file's pages are 1 KiB): a write of them must grow the file. */
function bulkyCustomer() {
  return {
    firstName: "Full",
    lastName: "Disk",
    email: `${randomUUID()}@example.com`,
    profile: { notes: randomBytes(2000).toString("hex") },
  };
}

async function writeFailures(server: TestServer): Promise<Record<string, number>> {
  const samples = parseSamples(await server.scrapeMetrics());
  const causes = ["disk_full", "io", "locked", "read_only"];
  return Object.fromEntries(causes.map((cause) => [cause, sampleValue(samples, "db_write_failures_total", { cause })]));
}

function unavailableLines(server: TestServer): Array<Record<string, unknown>> {
  return server.logs.filter((line) => line.msg === "database unavailable");
}

describe("a full disk", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ METRICS_ADDR: "127.0.0.1:0" });
  });

  afterAll(async () => {
    await server.stop();
  });

  it("fails each write UNAVAILABLE, counts them by cause, logs one line, serves reads, and writes again once there is room", async () => {
    const client = server.client(CustomerService);
    const { sqlite } = sqliteDatabaseOf(server.app);
    const existing = await client.createCustomer({ customer: bulkyCustomer() });
    expect(await writeFailures(server)).toEqual({ disk_full: 0, io: 0, locked: 0, read_only: 0 });
    const room = String(sqlite.pragma("max_page_count", { simple: true }));
    // No page past those the file has: a write that needs one fails SQLITE_FULL, as on a full disk.
    sqlite.exec("VACUUM");
    sqlite.pragma(`max_page_count = ${String(sqlite.pragma("page_count", { simple: true }))}`);

    const one = await failureOf(client.createCustomer({ customer: bulkyCustomer() }));
    const another = await failureOf(client.createCustomer({ customer: bulkyCustomer() }));
    const update = await failureOf(
      client.updateCustomer({ customer: { customerId: existing.customerId, profile: bulkyCustomer().profile }, updateMask: { paths: ["profile.notes"] } }),
    );
    // Arriving together, these share one group-committed transaction, which fails as a whole.
    const together = await Promise.all([1, 2, 3].map(() => failureOf(client.createCustomer({ customer: bulkyCustomer() }))));

    for (const error of [one, another, update, ...together]) {
      expect([error.code, error.details]).toEqual([grpc.status.UNAVAILABLE, "the database is unavailable; retry later"]);
    }
    expect(await writeFailures(server)).toEqual({ disk_full: 6, io: 0, locked: 0, read_only: 0 });
    expect(unavailableLines(server)).toEqual([
      expect.objectContaining({
        level: PINO_ERROR,
        reason: "disk_full",
        error_code: "SQLITE_FULL",
        method: "/chinook.v1.CustomerService/CreateCustomer",
        suppressed: 0,
      }),
    ]);
    expect(unavailableLines(server)[0]).not.toHaveProperty("err");

    expect(await client.getCustomer({ customerId: existing.customerId })).toEqual(expect.objectContaining({ email: existing.email }));
    expect((await client.listCustomers({ country: "Brazil" })).customers.length).toBeGreaterThan(0);
    expect(await server.client(InvoiceService).getInvoice({ invoiceId: 1n })).toEqual(expect.objectContaining({ invoiceId: 1n }));
    expect(await server.client(Health).check({ service: "" })).toEqual(
      expect.objectContaining({ status: HealthCheckResponse_ServingStatus.SERVING }),
    );

    sqlite.pragma(`max_page_count = ${room}`);
    const created = await client.createCustomer({ customer: bulkyCustomer() });
    expect(await client.getCustomer({ customerId: created.customerId })).toEqual(expect.objectContaining({ email: created.email }));
    expect(await writeFailures(server)).toEqual({ disk_full: 6, io: 0, locked: 0, read_only: 0 });
    expect(unavailableLines(server)).toHaveLength(1);
  });
});
