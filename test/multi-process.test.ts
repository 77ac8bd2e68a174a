import { credentials, status, type ServiceError } from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { InvoiceService } from "../gen/chinook/v1/invoice_service_pb";
import { typedClient, type TypedClient } from "../src/client/grpc-js";
import { CHINOOK_SOURCE } from "./support/database";
import { assertBuilt, runMain, type MainProcess } from "./support/main-process";
import { freshPostgresDatabase, type TestPostgresDatabase } from "./support/postgres";

/**
 * Two service processes (`node dist/src/main.js`, as `npm start` runs it) on
 * one database, for each engine, with the read cache at its default: every
 * guarantee of the contract must come from the database, not from one
 * process's memory. Calls alternate between the processes and run at once.
 */

const REPLICAS = 2;
const RACERS = 8;

interface Replica {
  readonly process: MainProcess;
  readonly customers: TypedClient<typeof CustomerService>;
  readonly invoices: TypedClient<typeof InvoiceService>;
}

interface SharedDatabase {
  /** The environment that points a service process at the database. */
  readonly env: Record<string, string>;
  drop(): Promise<void>;
}

async function sqliteFile(): Promise<SharedDatabase> {
  const dir = mkdtempSync(path.join(tmpdir(), "chinook-replicas-"));
  return {
    env: { DATABASE_PATH: path.join(dir, "chinook.db") },
    drop: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  };
}

async function postgresDatabase(): Promise<SharedDatabase> {
  const database: TestPostgresDatabase = await freshPostgresDatabase();
  return { env: { DATABASE_URL: database.url }, drop: () => database.drop() };
}

const ENGINES = [
  ["SQLite", sqliteFile],
  ["PostgreSQL", postgresDatabase],
] as const;

async function startReplica(database: SharedDatabase): Promise<Replica> {
  const process = runMain({
    ...database.env,
    CHINOOK_DB: path.resolve(CHINOOK_SOURCE),
    GRPC_ADDR: "127.0.0.1:0",
    LOG_LEVEL: "info",
    SHUTDOWN_GRACE_MS: "1000",
  });
  const serving = await process.logLine("serving gRPC");
  const address = `127.0.0.1:${String(serving.port)}`;
  return {
    process,
    customers: typedClient(CustomerService, address, credentials.createInsecure()),
    invoices: typedClient(InvoiceService, address, credentials.createInsecure()),
  };
}

async function stopReplica(replica: Replica): Promise<void> {
  replica.customers.close();
  replica.invoices.close();
  replica.process.child.kill("SIGTERM");
  await replica.process.exitCode();
}

/** Each call's outcome: its answer, or the gRPC code it failed with. */
async function settle<T>(calls: ReadonlyArray<Promise<T>>): Promise<Array<{ ok: T } | { code: status }>> {
  return Promise.all(
    calls.map((call) =>
      call.then(
        (ok) => ({ ok }),
        (error: ServiceError) => ({ code: error.code }),
      ),
    ),
  );
}

function answers<T>(outcomes: ReadonlyArray<{ ok: T } | { code: status }>): T[] {
  return outcomes.flatMap((outcome) => ("ok" in outcome ? [outcome.ok] : []));
}

function codes<T>(outcomes: ReadonlyArray<{ ok: T } | { code: status }>): status[] {
  return outcomes.flatMap((outcome) => ("code" in outcome ? [outcome.code] : []));
}

let serial = 0;
function uniqueEmail(): string {
  return `replica.${process.pid}.${++serial}.${randomUUID().slice(0, 8)}@example.com`;
}

describe.each(ENGINES)("two service processes on one %s database", (_engine, openDatabase) => {
  let database: SharedDatabase;
  const replicas: Replica[] = [];
  /** The replica for the i-th call of a race: they alternate. */
  const replica = (index: number): Replica => {
    const chosen = replicas[index % replicas.length];
    if (chosen === undefined) throw new Error("no replica is running");
    return chosen;
  };

  beforeAll(async () => {
    assertBuilt();
    database = await openDatabase();
    // One after the other: the first creates (SQLite) or fills (PostgreSQL) the database; racing that is bootstrap's own test.
    for (let started = 0; started < REPLICAS; started++) replicas.push(await startReplica(database));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(replicas.splice(0).map(stopReplica));
    await database.drop();
  });

  test("of concurrent creates with one email, exactly one succeeds; the others are ALREADY_EXISTS", async () => {
    const email = uniqueEmail();
    const outcomes = await settle(
      Array.from({ length: RACERS }, (_, index) =>
        replica(index).customers.createCustomer({ customer: { firstName: "Race", lastName: `Email ${index}`, email } }),
      ),
    );

    expect(answers(outcomes)).toHaveLength(1);
    expect(codes(outcomes)).toEqual(Array<status>(RACERS - 1).fill(status.ALREADY_EXISTS));
    const [winner] = answers(outcomes);
    const listed = await replica(1).customers.listCustomers({ email, pageSize: 10 });
    expect(listed.customers.map((customer) => customer.customerId)).toEqual([winner?.customerId]);
  });

  test("of concurrent updates with one etag, exactly one succeeds; the others are FAILED_PRECONDITION", async () => {
    const created = await replica(0).customers.createCustomer({ customer: { firstName: "Race", lastName: "Etag", email: uniqueEmail() } });
    const outcomes = await settle(
      Array.from({ length: RACERS }, (_, index) =>
        replica(index).customers.updateCustomer({
          customer: { customerId: created.customerId, city: `City ${index}`, etag: created.etag },
          updateMask: { paths: ["city"] },
        }),
      ),
    );

    const [winner, ...others] = answers(outcomes);
    expect(others).toEqual([]);
    expect(codes(outcomes)).toEqual(Array<status>(RACERS - 1).fill(status.FAILED_PRECONDITION));
    for (let index = 0; index < REPLICAS; index++) {
      expect(await replica(index).customers.getCustomer({ customerId: created.customerId })).toEqual(winner);
    }
  });

  test("of concurrent creates with one request_id, one customer is created and every call answers it", async () => {
    const requestId = randomUUID();
    const email = uniqueEmail();
    const outcomes = await settle(
      Array.from({ length: RACERS }, (_, index) =>
        replica(index).customers.createCustomer({ customer: { firstName: "Race", lastName: "Request", email }, requestId }),
      ),
    );

    const created = answers(outcomes);
    expect(codes(outcomes)).toEqual([]);
    expect(new Set(created.map((customer) => customer.customerId)).size).toBe(1);
    expect(created.map((customer) => customer.etag)).toEqual(Array<string>(RACERS).fill(created[0]?.etag ?? ""));
    const listed = await replica(1).customers.listCustomers({ email, pageSize: 10 });
    expect(listed.customers).toHaveLength(1);
  });

  test("concurrent CreateInvoice calls with one request_id make one whole invoice, whose lines sum to its total", async () => {
    const buyer = await replica(0).customers.createCustomer({ customer: { firstName: "Race", lastName: "Invoice", email: uniqueEmail() } });
    const requestId = randomUUID();
    const lines = [
      { trackId: 1n, quantity: 2 },
      { trackId: 2819n, quantity: 3 },
    ];
    const outcomes = await settle(
      Array.from({ length: RACERS }, (_, index) => replica(index).invoices.createInvoice({ customerId: buyer.customerId, lines, requestId })),
    );

    expect(codes(outcomes)).toEqual([]);
    const invoiceIds = new Set(answers(outcomes).map((invoice) => invoice.invoiceId));
    expect(invoiceIds.size).toBe(1);
    const listed = await replica(1).invoices.listInvoices({ customerId: buyer.customerId, pageSize: 10 });
    expect(listed.invoices.map((invoice) => invoice.invoiceId)).toEqual([...invoiceIds]);
    const [invoice] = listed.invoices;
    // 2 × 0.99 + 3 × 1.99, in cents.
    expect(invoice?.lines.map((line) => [line.trackId, line.quantity])).toEqual([
      [1n, 2],
      [2819n, 3],
    ]);
    expect(invoice?.total).toBe("7.95");
  });

  test("a read on one process after a write answered by the other sees the write, cached or not", async () => {
    const created = await replica(0).customers.createCustomer({ customer: { firstName: "Read", lastName: "After", email: uniqueEmail() } });
    const id = created.customerId;
    for (let round = 0; round < 5; round++) {
      const [writer, reader] = round % 2 === 0 ? [replica(0), replica(1)] : [replica(1), replica(0)];
      // Read twice first: a customer enters the read cache on its second read.
      await reader.customers.getCustomer({ customerId: id });
      await reader.customers.batchGetCustomers({ customerIds: [id] });

      const written = await writer.customers.updateCustomer({ customer: { customerId: id, city: `Round ${round}` }, updateMask: { paths: ["city"] } });

      expect(await reader.customers.getCustomer({ customerId: id })).toEqual(written);
      expect((await reader.customers.batchGetCustomers({ customerIds: [id] })).customers).toEqual([written]);
      const page = await reader.customers.listCustomers({ email: created.email, pageSize: 1 });
      expect(page.customers).toEqual([written]);
    }

    const deleted = await replica(0).customers.deleteCustomer({ customerId: id });
    expect(await replica(1).customers.getCustomer({ customerId: id })).toEqual(deleted);
  });
});
