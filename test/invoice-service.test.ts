import * as grpc from "@grpc/grpc-js";
import { sql, type Kysely } from "kysely";
import { randomUUID } from "node:crypto";
import { CustomerStatus } from "../gen/chinook/v1/customer_pb";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import type { Invoice } from "../gen/chinook/v1/invoice_pb";
import { InvoiceService } from "../gen/chinook/v1/invoice_service_pb";
import type { Database } from "../src/db/schema";
import { SqliteDatabase } from "../src/db/sqlite/driver";
import type { CallOptions, TypedClient } from "../src/client/grpc-js";
import { bigintSum, centsOf, databaseOf, openCommittedReader, type CommittedReader } from "./support/database-reads";
import { acceptedByteChanges, encodedId, payloadOf, resignedWith, secretOf, withPayload } from "./support/page-tokens";
import { sqliteDatabaseOf, startTestServer, TEST_ENGINE, type TestServer } from "./support/server";

/**
 * InvoiceService end to end: real gRPC clients against the real service over a
 * fresh copy of Chinook, on the engine TEST_ENGINE names. Expected money is
 * computed here in integer cents from prices the database itself reads
 * (ROUND(x * 100)), never with the service's own money code, and every write
 * is checked by reading the database directly. Every error a client receives
 * is also checked for leaked internals.
 */

const MISSING_ID = 999_999n;
const CHEAP_TRACK = 1n; // 0.99
const VIDEO_TRACK = 2819n; // 1.99
const CUSTOMER_2_INVOICES_NEWEST_FIRST = [293n, 241n, 219n, 196n, 67n, 12n, 1n];
const MAX_INT32 = 2 ** 31 - 1;

/** Customers are shared by one server, so each scenario buys as its own customer. */
const BUYER = {
  billingDefaults: 3n,
  billingOverrides: 4n,
  exactness: 5n,
  mergedLines: 10n,
  refused: 11n,
  idempotent: 15n,
  deleted: 20n,
  inactive: 21n,
  concurrent: 30n,
  cancelled: 31n,
  lockedOut: 32n,
  paged: 33n,
} as const;

/** What a client must never read in an error: driver codes, SQL, file paths, stack frames. */
const INTERNALS = [
  /sqlite|postgres|sqlstate/i,
  /\b(select|insert|update|delete)\b[\s\S]*\b(from|into|set)\b/i,
  /\b(constraint|syntax error|no such (table|column)|relation)\b/i,
  /(^|[\s(])\/[\w.-]+\/[\w./-]+/,
  /\.(ts|js|db)\b/,
  /\n\s+at\s/,
];

/** SQLite's own behaviour (one writer at a time, file locks), which PostgreSQL does not share. */
const describeOnSqlite = TEST_ENGINE === "sqlite" ? describe : describe.skip;

type Line = { trackId: bigint; quantity: number };
type RowCounts = { invoices: bigint; items: bigint };
type StoredLine = { InvoiceLineId: bigint; InvoiceId: bigint; TrackId: bigint; Quantity: bigint };

let server: TestServer;
let invoices: TypedClient<typeof InvoiceService>;
let customers: TypedClient<typeof CustomerService>;
let db: Kysely<Database>;

beforeAll(async () => {
  server = await startTestServer();
  invoices = server.client(InvoiceService);
  customers = server.client(CustomerService);
  db = databaseOf(server.app);
});

afterAll(async () => {
  await server.stop();
});

// Reading the database directly.

function only<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`no ${what}`);
  return value;
}

async function rowCounts(reader: Kysely<Database> = db): Promise<RowCounts> {
  const { rows } = await sql<RowCounts>`SELECT (SELECT COUNT(*) FROM invoices) AS invoices, (SELECT COUNT(*) FROM invoice_items) AS items`.execute(
    reader,
  );
  return only(rows[0], "row counts");
}

/** Each track's price in cents, as the database rounds the stored amount. */
async function priceCentsOf(trackIds: readonly bigint[]): Promise<Map<bigint, bigint>> {
  const rows = await db.selectFrom("tracks").select(["TrackId", centsOf("UnitPrice").as("cents")]).where("TrackId", "in", trackIds).execute();
  return new Map(rows.map((row) => [row.TrackId, row.cents]));
}

async function trackNamesOf(trackIds: readonly bigint[]): Promise<Map<bigint, string>> {
  const rows = await db.selectFrom("tracks").select(["TrackId", "Name"]).where("TrackId", "in", trackIds).execute();
  return new Map(rows.map((row) => [row.TrackId, row.Name]));
}

async function expectedTotalCents(lines: readonly Line[]): Promise<bigint> {
  const prices = await priceCentsOf(lines.map((line) => line.trackId));
  return lines.reduce((sum, line) => sum + only(prices.get(line.trackId), `price of track ${line.trackId}`) * BigInt(line.quantity), 0n);
}

/** The stored Total and the sum of the stored lines, both in cents. */
async function storedCents(invoiceId: bigint): Promise<{ total: bigint; lines: bigint | null }> {
  return db
    .selectFrom("invoices")
    .select((eb) => [
      centsOf("invoices.Total").as("total"),
      eb
        .selectFrom("invoice_items")
        .select(bigintSum(sql<bigint>`${centsOf("invoice_items.UnitPrice")} * ${sql.ref("invoice_items.Quantity")}`).as("sum"))
        .whereRef("invoice_items.InvoiceId", "=", "invoices.InvoiceId")
        .$asScalar()
        .as("lines"),
    ])
    .where("InvoiceId", "=", invoiceId)
    .executeTakeFirstOrThrow();
}

async function storedLines(invoiceIds: readonly bigint[]): Promise<StoredLine[]> {
  return db
    .selectFrom("invoice_items")
    .select(["InvoiceLineId", "InvoiceId", "TrackId", "Quantity"])
    .where("InvoiceId", "in", invoiceIds)
    .orderBy("InvoiceLineId")
    .execute();
}

/** Invoices without a line, and lines without an invoice: what a half-written CreateInvoice would leave. */
async function orphans(reader: Kysely<Database>): Promise<{ invoicesWithoutLines: bigint; linesWithoutInvoice: bigint }> {
  const invoiceOf = (alias: string) => sql.ref(`${alias}.InvoiceId`);
  const { rows } = await sql<{ invoicesWithoutLines: bigint; linesWithoutInvoice: bigint }>`
    SELECT (SELECT COUNT(*) FROM invoices i WHERE NOT EXISTS (SELECT 1 FROM invoice_items l WHERE ${invoiceOf("l")} = ${invoiceOf("i")})) AS ${sql.ref("invoicesWithoutLines")},
           (SELECT COUNT(*) FROM invoice_items l WHERE NOT EXISTS (SELECT 1 FROM invoices i WHERE ${invoiceOf("i")} = ${invoiceOf("l")})) AS ${sql.ref("linesWithoutInvoice")}
  `.execute(reader);
  return only(rows[0], "orphan counts");
}

/** "13.86" from 1386n: the rendering the contract promises, written independently of the service's. */
function decimal(cents: bigint): string {
  return `${cents / 100n}.${(cents % 100n).toString().padStart(2, "0")}`;
}

/** Tracks first..first+count-1, each with its own quantity: a line set no other call in the test shares. */
function trackRange(first: bigint, count: number, quantityOf: (i: number) => number = () => 1): Line[] {
  return Array.from({ length: count }, (_, i) => ({ trackId: first + BigInt(i), quantity: quantityOf(i) }));
}

function sameLines(actual: readonly Line[], expected: readonly Line[]): boolean {
  return actual.length === expected.length && actual.every((line, i) => line.trackId === expected[i]?.trackId && line.quantity === expected[i]?.quantity);
}

function linesOf(invoice: Invoice): Line[] {
  return invoice.lines.map((line) => ({ trackId: line.trackId, quantity: line.quantity }));
}

// Calling the service.

function sell(customerId: bigint, lines: readonly Line[], options?: CallOptions): Promise<Invoice> {
  return invoices.createInvoice({ customerId, lines: [...lines] }, options);
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return error instanceof Error && "code" in error && "details" in error;
}

/** The call's gRPC error; fails when it succeeds. Every message is checked for leaked internals. */
async function failureOf(call: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await call;
  } catch (error) {
    if (!isServiceError(error)) throw error;
    expectNoInternals(error.details);
    return error;
  }
  throw new Error("expected the call to fail, but it succeeded");
}

function expectNoInternals(message: string): void {
  for (const pattern of INTERNALS) expect(message).not.toMatch(pattern);
}

async function expectRefused(call: Promise<unknown>, code: grpc.status, messagePart: string): Promise<void> {
  const error = await failureOf(call);
  expect(grpc.status[error.code]).toBe(grpc.status[code]);
  expect(error.details).toContain(messagePart);
}

async function expectRefusedWithoutWrites(call: () => Promise<unknown>, code: grpc.status, messagePart: string): Promise<void> {
  const before = await rowCounts();
  await expectRefused(call(), code, messagePart);
  expect(await rowCounts()).toEqual(before);
}

describe("CreateInvoice", () => {
  it("prices each line from tracks, totals exactly, and stores what it answers", async () => {
    const lines = [
      { trackId: CHEAP_TRACK, quantity: 2 },
      { trackId: VIDEO_TRACK, quantity: 3 },
      { trackId: 3000n, quantity: 1 },
    ];
    const prices = await priceCentsOf(lines.map((line) => line.trackId));
    const names = await trackNamesOf(lines.map((line) => line.trackId));
    const expected = await expectedTotalCents(lines);
    const before = await rowCounts();

    const invoice = await sell(BUYER.billingDefaults, lines);

    expect(invoice.customerId).toBe(BUYER.billingDefaults);
    expect(invoice.total).toBe(decimal(expected));
    expect(invoice.lines.map((line) => [line.trackId, line.trackName, line.unitPrice, line.quantity])).toEqual(
      lines.map((line) => [line.trackId, names.get(line.trackId), decimal(only(prices.get(line.trackId), "price")), line.quantity]),
    );
    expect(await rowCounts()).toEqual({ invoices: before.invoices + 1n, items: before.items + 3n });
    expect(await storedCents(invoice.invoiceId)).toEqual({ total: expected, lines: expected });
    expect(await invoices.getInvoice({ invoiceId: invoice.invoiceId })).toEqual(invoice);
  });

  it("bills the customer's address by default", async () => {
    const customer = await db
      .selectFrom("customers")
      .select(["Address", "City", "State", "Country", "PostalCode"])
      .where("CustomerId", "=", BUYER.billingDefaults)
      .executeTakeFirstOrThrow();

    const invoice = await sell(BUYER.billingDefaults, [{ trackId: CHEAP_TRACK, quantity: 1 }]);

    expect([invoice.billingAddress, invoice.billingCity, invoice.billingState, invoice.billingCountry, invoice.billingPostalCode]).toEqual(
      [customer.Address, customer.City, customer.State, customer.Country, customer.PostalCode].map((value) => value ?? undefined),
    );
  });

  it("takes each billing field the request sets, and the customer's for the rest", async () => {
    const invoice = await invoices.createInvoice({
      customerId: BUYER.billingOverrides,
      lines: [{ trackId: CHEAP_TRACK, quantity: 1 }],
      billingCity: "Bergen",
      billingPostalCode: "",
    });
    const stored = await db
      .selectFrom("invoices")
      .select(["BillingAddress", "BillingCity", "BillingCountry", "BillingPostalCode"])
      .where("InvoiceId", "=", invoice.invoiceId)
      .executeTakeFirstOrThrow();

    expect([invoice.billingAddress, invoice.billingCity, invoice.billingCountry, invoice.billingPostalCode]).toEqual([
      "Ullevålsveien 14",
      "Bergen",
      "Norway",
      "",
    ]);
    expect(stored).toEqual({ BillingAddress: "Ullevålsveien 14", BillingCity: "Bergen", BillingCountry: "Norway", BillingPostalCode: "" });
  });

  it("merges lines naming the same track into one line with the summed quantity", async () => {
    const before = await rowCounts();

    const invoice = await sell(BUYER.mergedLines, [
      { trackId: CHEAP_TRACK, quantity: 2 },
      { trackId: 2n, quantity: 1 },
      { trackId: CHEAP_TRACK, quantity: 3 },
    ]);

    expect(linesOf(invoice)).toEqual([
      { trackId: CHEAP_TRACK, quantity: 5 },
      { trackId: 2n, quantity: 1 },
    ]);
    expect(invoice.total).toBe(decimal(await expectedTotalCents(linesOf(invoice))));
    expect(await rowCounts()).toEqual({ invoices: before.invoices + 1n, items: before.items + 2n });
  });
});

describe("money is exact", () => {
  it("sells 1000 units of a 0.99 track for 990.00", async () => {
    expect(decimal(only((await priceCentsOf([CHEAP_TRACK])).get(CHEAP_TRACK), "price"))).toBe("0.99");

    const invoice = await sell(BUYER.exactness, [{ trackId: CHEAP_TRACK, quantity: 1000 }]);

    expect(invoice.total).toBe("990.00");
    expect(await storedCents(invoice.invoiceId)).toEqual({ total: 99000n, lines: 99000n });
  });

  it("sums a thousand lines mixing 0.99 and 1.99 exactly, where adding floats drifts", async () => {
    const lines = trackRange(2504n, 1000, (i) => (i % 7) + 1);
    const prices = await priceCentsOf(lines.map((line) => line.trackId));
    const floatSum = lines.reduce((sum, line) => sum + (Number(prices.get(line.trackId)) / 100) * line.quantity, 0);
    const expected = await expectedTotalCents(lines);

    const invoice = await sell(BUYER.exactness, lines);

    expect(new Set(prices.values())).toEqual(new Set([99n, 199n]));
    expect(floatSum).not.toBe(Number(expected) / 100);
    expect(invoice.lines).toHaveLength(1000);
    expect(invoice.total).toBe(decimal(expected));
    expect(await storedCents(invoice.invoiceId)).toEqual({ total: expected, lines: expected });
  });
});

describe("CreateInvoice refuses, writing nothing,", () => {
  const line = { trackId: CHEAP_TRACK, quantity: 1 };

  it("an invoice without lines", () =>
    expectRefusedWithoutWrites(() => sell(BUYER.refused, []), grpc.status.INVALID_ARGUMENT, "lines"));

  it.each([0, -1, 1001, MAX_INT32])("quantity %p", (quantity) =>
    expectRefusedWithoutWrites(
      () => sell(BUYER.refused, [line, { trackId: 2n, quantity }]),
      grpc.status.INVALID_ARGUMENT,
      "lines[1].quantity",
    ));

  it("an unknown track in the last line, naming it", () =>
    expectRefusedWithoutWrites(
      () => sell(BUYER.refused, [line, { trackId: 2n, quantity: 1 }, { trackId: MISSING_ID, quantity: 1 }]),
      grpc.status.NOT_FOUND,
      `track ${MISSING_ID}`,
    ));

  it("a customer that does not exist", () =>
    expectRefusedWithoutWrites(() => sell(MISSING_ID, [line]), grpc.status.FAILED_PRECONDITION, `customer ${MISSING_ID}`));

  it("a customer deleted through DeleteCustomer", async () => {
    const deleted = await customers.deleteCustomer({ customerId: BUYER.deleted });
    expect(deleted.status).toBe(CustomerStatus.DELETED);

    await expectRefusedWithoutWrites(() => sell(BUYER.deleted, [line]), grpc.status.FAILED_PRECONDITION, `customer ${BUYER.deleted}`);
  });

  it("a customer made INACTIVE through UpdateCustomer", async () => {
    const updated = await customers.updateCustomer({
      customer: { customerId: BUYER.inactive, status: CustomerStatus.INACTIVE },
      updateMask: { paths: ["status"] },
    });
    expect(updated.status).toBe(CustomerStatus.INACTIVE);

    await expectRefusedWithoutWrites(() => sell(BUYER.inactive, [line]), grpc.status.FAILED_PRECONDITION, `customer ${BUYER.inactive}`);
  });

  it("a request_id that is not a UUID", () =>
    expectRefusedWithoutWrites(
      () => invoices.createInvoice({ customerId: BUYER.refused, lines: [line], requestId: "retry-1" }),
      grpc.status.INVALID_ARGUMENT,
      "request_id",
    ));
});

describeOnSqlite("CreateInvoice on SQLite refuses, writing nothing,", () => {
  it("when the database stays locked by another writer, as UNAVAILABLE", async () => {
    const otherWriter = new SqliteDatabase(sqliteDatabaseOf(server.app).path);
    otherWriter.exec("BEGIN IMMEDIATE");
    try {
      await expectRefusedWithoutWrites(
        () => sell(BUYER.lockedOut, [{ trackId: CHEAP_TRACK, quantity: 1 }]),
        grpc.status.UNAVAILABLE,
        "unavailable",
      );
    } finally {
      otherWriter.exec("ROLLBACK");
      otherWriter.close();
    }
  });
});

describe("CreateInvoice with a request_id", () => {
  const lines = [{ trackId: CHEAP_TRACK, quantity: 2 }, { trackId: VIDEO_TRACK, quantity: 1 }];

  it("creates once and answers a retry with the same invoice", async () => {
    const request = { customerId: BUYER.idempotent, lines, requestId: randomUUID() };
    const before = await rowCounts();

    const first = await invoices.createInvoice(request);
    const retry = await invoices.createInvoice(request);

    expect(retry).toEqual(first);
    expect(await rowCounts()).toEqual({ invoices: before.invoices + 1n, items: before.items + 2n });
  });

  it("treats the request_id case-insensitively, as UUIDs are", async () => {
    const requestId = randomUUID();
    const first = await invoices.createInvoice({ customerId: BUYER.idempotent, lines, requestId });
    const before = await rowCounts();

    const retry = await invoices.createInvoice({ customerId: BUYER.idempotent, lines, requestId: requestId.toUpperCase() });

    expect(retry).toEqual(first);
    expect(await rowCounts()).toEqual(before);
  });

  it("creates once when the same request arrives ten times at once", async () => {
    const request = { customerId: BUYER.idempotent, lines, requestId: randomUUID() };
    const before = await rowCounts();

    const answers = await Promise.all(Array.from({ length: 10 }, () => invoices.createInvoice(request)));

    expect(new Set(answers.map((answer) => answer.invoiceId)).size).toBe(1);
    expect(await rowCounts()).toEqual({ invoices: before.invoices + 1n, items: before.items + 2n });
  });

  it("refuses the same request_id for a different request", async () => {
    const requestId = randomUUID();
    await invoices.createInvoice({ customerId: BUYER.idempotent, lines, requestId });

    await expectRefusedWithoutWrites(
      () => invoices.createInvoice({ customerId: BUYER.idempotent, lines: [{ trackId: CHEAP_TRACK, quantity: 3 }], requestId }),
      grpc.status.INVALID_ARGUMENT,
      "request_id",
    );
  });
});

describe("GetInvoice", () => {
  it("returns Chinook's invoice 1 with its two lines", async () => {
    const names = await trackNamesOf([2n, 4n]);

    const invoice = await invoices.getInvoice({ invoiceId: 1n });

    expect(invoice.customerId).toBe(2n);
    expect(invoice.total).toBe("1.98");
    expect(invoice.lines.map((line) => [line.trackId, line.trackName, line.unitPrice, line.quantity])).toEqual([
      [2n, names.get(2n), "0.99", 1],
      [4n, names.get(4n), "0.99", 1],
    ]);
  });

  it("is NOT_FOUND for an invoice that does not exist", () =>
    expectRefused(invoices.getInvoice({ invoiceId: MISSING_ID }), grpc.status.NOT_FOUND, `invoice ${MISSING_ID}`));

  it("is INVALID_ARGUMENT for invoice_id 0", () =>
    expectRefused(invoices.getInvoice({ invoiceId: 0n }), grpc.status.INVALID_ARGUMENT, "invoice_id"));
});

describe("ListInvoices", () => {
  const ids = (listed: readonly Invoice[]): bigint[] => listed.map((invoice) => invoice.invoiceId);

  async function listAll(customerId: bigint, pageSize: number): Promise<bigint[]> {
    const listed: bigint[] = [];
    let pageToken = "";
    do {
      const page = await invoices.listInvoices({ customerId, pageSize, pageToken });
      listed.push(...ids(page.invoices));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    return listed;
  }

  it("lists customer 2's seven seeded invoices newest first, with their lines", async () => {
    const { invoices: listed, nextPageToken } = await invoices.listInvoices({ customerId: 2n });

    expect(ids(listed)).toEqual(CUSTOMER_2_INVOICES_NEWEST_FIRST);
    expect(nextPageToken).toBe("");
    expect(listed[0]).toEqual(await invoices.getInvoice({ invoiceId: 293n }));
  });

  it("pages of 3 add up to the full list", async () => {
    expect(await listAll(2n, 3)).toEqual(CUSTOMER_2_INVOICES_NEWEST_FIRST);
  });

  it("neither repeats nor skips an invoice when new ones are created between pages, and lists the new ones first", async () => {
    const first = await invoices.listInvoices({ customerId: 2n, pageSize: 3 });
    const createdEarly = [await sell(2n, [{ trackId: CHEAP_TRACK, quantity: 1 }]), await sell(2n, [{ trackId: 2n, quantity: 1 }])];
    const second = await invoices.listInvoices({ customerId: 2n, pageSize: 3, pageToken: first.nextPageToken });
    const createdLate = await sell(2n, [{ trackId: 3n, quantity: 1 }]);
    const third = await invoices.listInvoices({ customerId: 2n, pageSize: 3, pageToken: second.nextPageToken });

    expect([...ids(first.invoices), ...ids(second.invoices), ...ids(third.invoices)]).toEqual(CUSTOMER_2_INVOICES_NEWEST_FIRST);
    expect(third.nextPageToken).toBe("");
    const created = ids([...createdEarly, createdLate]).reverse();
    expect(await listAll(2n, 3)).toEqual([...created, ...CUSTOMER_2_INVOICES_NEWEST_FIRST]);
  });

  it("refuses a token that is not one of its own", () =>
    expectRefused(invoices.listInvoices({ customerId: 2n, pageToken: "bm90LWEtdG9rZW4" }), grpc.status.INVALID_ARGUMENT, "page_token"));

  describe("a page token cannot be forged", () => {
    const request = { customerId: 2n, pageSize: 3 };
    let token: string;

    beforeAll(async () => {
      token = (await invoices.listInvoices(request)).nextPageToken;
    });

    it("continues the listing as issued", async () => {
      const next = await invoices.listInvoices({ ...request, pageToken: token });

      expect(ids(next.invoices)).toEqual((await listAll(2n, 1000)).slice(3, 6));
    });

    it("refuses a token whose cursor is changed to -9223372036854775808 as INVALID_ARGUMENT naming page_token, without quoting it", async () => {
      const forged = withPayload(token, (payload) => ({ ...payload, k: [(payloadOf(token).k as unknown[])[0], encodedId(-(2n ** 63n))] }));

      const error = await failureOf(invoices.listInvoices({ ...request, pageToken: forged }));
      expect({ code: grpc.status[error.code], details: error.details }).toEqual({ code: "INVALID_ARGUMENT", details: expect.stringMatching(/^page_token: /) });
      expect(error.details).not.toContain(forged);
    });

    it("refuses a token with any one byte changed as INVALID_ARGUMENT naming page_token", async () => {
      const refusedAsInvalid = (error: unknown) =>
        isServiceError(error) && error.code === grpc.status.INVALID_ARGUMENT && error.details.startsWith("page_token:");

      const accepted = await acceptedByteChanges(token, (pageToken) => invoices.listInvoices({ ...request, pageToken }), refusedAsInvalid);

      expect(accepted).toEqual([]);
    });

    it("refuses a non-positive invoice id even signed with the service's own key", async () => {
      const secret = await secretOf(db, token);
      const withId = (id: bigint) => resignedWith(secret, token, (payload) => ({ ...payload, k: [(payload.k as unknown[])[0], encodedId(id)] }));

      const resigned = await invoices.listInvoices({ ...request, pageToken: resignedWith(secret, token, (payload) => payload) });
      expect(ids(resigned.invoices)).toEqual((await listAll(2n, 1000)).slice(3, 6));
      for (const id of [-(2n ** 63n), 0n]) {
        await expectRefused(invoices.listInvoices({ ...request, pageToken: withId(id) }), grpc.status.INVALID_ARGUMENT, "page_token");
      }
    });
  });

  it("takes page_size 0 as 50 and clamps more than 1000; a negative one is INVALID_ARGUMENT naming page_size", async () => {
    const customerId = BUYER.paged;
    for (let sold = 0; sold < 50; sold++) await sell(customerId, [{ trackId: CHEAP_TRACK, quantity: 1 }]);
    const all = await invoices.listInvoices({ customerId, pageSize: 1000 });
    expect(all.invoices).toHaveLength(57); // Chinook's seven, and the fifty sold

    const byDefault = await invoices.listInvoices({ customerId, pageSize: 0 });
    expect(byDefault.invoices).toEqual(all.invoices.slice(0, 50));
    expect(byDefault.nextPageToken).not.toBe("");
    expect((await invoices.listInvoices({ customerId, pageSize: 5000 })).invoices).toEqual(all.invoices);
    await expectRefused(invoices.listInvoices({ customerId, pageSize: -1 }), grpc.status.INVALID_ARGUMENT, "page_size");
  });

  it("refuses a token issued for another customer", async () => {
    const { nextPageToken } = await invoices.listInvoices({ customerId: 2n, pageSize: 3 });
    expect(nextPageToken).not.toBe("");

    await expectRefused(
      invoices.listInvoices({ customerId: 3n, pageSize: 3, pageToken: nextPageToken }),
      grpc.status.INVALID_ARGUMENT,
      "page_token: was issued for different customer_id",
    );
  });
});

describe("concurrent CreateInvoice calls for one customer", () => {
  const CALLS = 25;
  const LINES_PER_CALL = 4;

  it("all succeed, each with its own id and exactly its own lines", async () => {
    const requested = Array.from({ length: CALLS }, (_, call) =>
      trackRange(BigInt(100 + call * LINES_PER_CALL), LINES_PER_CALL, (i) => ((call + i) % 3) + 1),
    );
    const before = await rowCounts();

    const created = await Promise.all(requested.map((lines) => sell(BUYER.concurrent, lines)));

    const createdIds = created.map((invoice) => invoice.invoiceId);
    expect(new Set(createdIds).size).toBe(CALLS);
    expect(await rowCounts()).toEqual({ invoices: before.invoices + BigInt(CALLS), items: before.items + BigInt(CALLS * LINES_PER_CALL) });
    const fetched = await Promise.all(createdIds.map((invoiceId) => invoices.getInvoice({ invoiceId })));
    expect(fetched).toEqual(created);
    for (const [call, invoice] of created.entries()) {
      const lines = requested[call] ?? [];
      const expected = await expectedTotalCents(lines);
      expect(linesOf(invoice)).toEqual(lines);
      expect(invoice.total).toBe(decimal(expected));
      expect(await storedCents(invoice.invoiceId)).toEqual({ total: expected, lines: expected });
    }
    const stored = await storedLines(createdIds);
    expect(new Set(stored.map((row) => row.InvoiceLineId)).size).toBe(CALLS * LINES_PER_CALL);
    const storedByCall = created.map((invoice) =>
      stored
        .filter((row) => row.InvoiceId === invoice.invoiceId)
        .map((row) => ({ trackId: row.TrackId, quantity: Number(row.Quantity) })),
    );
    expect(storedByCall).toEqual(requested);
  });
});

describe("CreateInvoice cancelled by its client", () => {
  const CALLS = 30;
  const LINES_PER_CALL = 100;
  /** Ample time for a call to reach the server and start waiting there; nothing asserts on it. */
  const REACHES_SERVER_MS = 100;

  function cancelAfterSending(afterMs: number): grpc.Interceptor {
    return (options, nextCall) => {
      const call: grpc.InterceptingCall = new grpc.InterceptingCall(nextCall(options), {
        halfClose(next) {
          next();
          const cancel = () => call.cancelWithStatus(grpc.status.CANCELLED, "cancelled by the test");
          if (afterMs === 0) cancel();
          else setTimeout(cancel, afterMs);
        },
      });
      return call;
    };
  }

  /** Ways a client gives up: before the call leaves, as it leaves, and while the server is working on it. */
  const cancellations: Array<() => CallOptions> = [
    () => ({ deadline: new Date(Date.now() - 1000) }),
    () => ({ interceptors: [cancelAfterSending(0)] }),
    () => ({ interceptors: [cancelAfterSending(REACHES_SERVER_MS)] }),
    () => ({ deadline: new Date(Date.now() + REACHES_SERVER_MS) }),
  ];

  function cancellationFor(call: number): CallOptions {
    return only(cancellations[call % cancellations.length], "cancellation")();
  }

  function deferred(): { promise: Promise<void>; resolve: () => void } {
    let resolve: () => void = () => undefined;
    const promise = new Promise<void>((settle) => {
      resolve = settle;
    });
    return { promise, resolve };
  }

  /**
   * Runs `work` while another transaction keeps the server's writes waiting, so
   * the calls that reach the server are parked inside their handlers, mid-way,
   * when their clients give up. On SQLite it holds the server's only
   * connection; on PostgreSQL, on the test's own connection, a lock under which
   * invoices can be read but not written.
   */
  async function whileServerIsBusy<T>(reader: CommittedReader, work: () => Promise<T>): Promise<T> {
    const holding = deferred();
    const released = deferred();
    const onPostgres = server.app.storage.engine === "postgres";
    const transaction = (onPostgres ? reader.db : db).transaction().execute(async (tx) => {
      if (onPostgres) await sql`LOCK TABLE invoices IN EXCLUSIVE MODE`.execute(tx);
      holding.resolve();
      await released.promise;
    });
    await Promise.race([holding.promise, transaction]);
    try {
      return await work();
    } finally {
      released.resolve();
      await transaction;
    }
  }

  async function lastInvoiceId(reader: Kysely<Database>): Promise<bigint> {
    const { id } = await reader.selectFrom("invoices").select((eb) => eb.fn.max("InvoiceId").as("id")).executeTakeFirstOrThrow();
    return id;
  }

  /** The buyer's invoices after `since`, with their lines: each should be one requested line set, completely. */
  async function invoicesSince(reader: Kysely<Database>, since: bigint): Promise<Map<bigint, { totalCents: bigint; lines: Line[] }>> {
    const rows = await reader
      .selectFrom("invoices as i")
      .leftJoin("invoice_items as l", "l.InvoiceId", "i.InvoiceId")
      .select(["i.InvoiceId", centsOf("i.Total").as("totalCents"), "l.TrackId", "l.Quantity"])
      .where("i.CustomerId", "=", BUYER.cancelled)
      .where("i.InvoiceId", ">", since)
      .orderBy("i.InvoiceId")
      .orderBy("l.InvoiceLineId")
      .execute();
    const byInvoice = new Map<bigint, { totalCents: bigint; lines: Line[] }>();
    for (const row of rows) {
      const invoice = byInvoice.get(row.InvoiceId) ?? { totalCents: row.totalCents, lines: [] };
      if (row.TrackId !== null && row.Quantity !== null) invoice.lines.push({ trackId: row.TrackId, quantity: Number(row.Quantity) });
      byInvoice.set(row.InvoiceId, invoice);
    }
    return byInvoice;
  }

  /** A requested line set and its expected total in cents. */
  type Requested = { lines: Line[]; totalCents: bigint };

  /** What a half-written or misattributed invoice would show, committed; empty when there is none. */
  async function incompleteInvoices(reader: Kysely<Database>, since: bigint, requested: readonly Requested[]): Promise<string[]> {
    const problems: string[] = [];
    for (const [invoiceId, { totalCents, lines }] of await invoicesSince(reader, since)) {
      const wanted = requested.find((candidate) => candidate.lines[0]?.trackId === lines[0]?.trackId);
      if (wanted === undefined || !sameLines(lines, wanted.lines)) {
        problems.push(`invoice ${invoiceId} has ${lines.length} lines that are not one requested set`);
      } else if (totalCents !== wanted.totalCents) {
        problems.push(`invoice ${invoiceId} totals ${decimal(totalCents)}, not ${decimal(wanted.totalCents)}`);
      }
    }
    const { invoicesWithoutLines, linesWithoutInvoice } = await orphans(reader);
    if (invoicesWithoutLines + linesWithoutInvoice > 0n) {
      problems.push(`${invoicesWithoutLines} invoices without lines, ${linesWithoutInvoice} lines without an invoice`);
    }
    return problems;
  }

  it("leaves each invoice complete or absent, and a retry with its request_id completes it exactly once", async () => {
    const requestedLines = Array.from({ length: CALLS }, (_, call) =>
      trackRange(BigInt(1 + call * LINES_PER_CALL), LINES_PER_CALL, (i) => (i % 4) + 1),
    );
    const requested = await Promise.all(requestedLines.map(async (lines) => ({ lines, totalCents: await expectedTotalCents(lines) })));
    const requests = requestedLines.map((lines) => ({ customerId: BUYER.cancelled, lines, requestId: randomUUID() }));
    // The calls must find the channel connected, or none may reach the server before its client gives up.
    await invoices.getInvoice({ invoiceId: 1n });
    const reader = openCommittedReader(server);
    try {
      const before = await rowCounts(reader.db);
      const since = await lastInvoiceId(reader.db);

      const outcomes = await whileServerIsBusy(reader, () =>
        Promise.allSettled(requests.map((request, call) => invoices.createInvoice(request, cancellationFor(call)))),
      );

      for (const outcome of outcomes) {
        const error: unknown = outcome.status === "rejected" ? outcome.reason : new Error("a call finished although it could not");
        if (!isServiceError(error)) throw error;
        expect([grpc.status[grpc.status.CANCELLED], grpc.status[grpc.status.DEADLINE_EXCEEDED]]).toContain(grpc.status[error.code]);
        expectNoInternals(error.details);
      }

      // The parked handlers are now running to their end: whatever they have committed so far is whole.
      expect(await incompleteInvoices(reader.db, since, requested)).toEqual([]);

      // A retry waits for its original, or takes over from one that never reached the server.
      const retried = await Promise.all(requests.map((request) => invoices.createInvoice(request)));

      expect(retried.map(linesOf)).toEqual(requestedLines);
      expect(retried.map((invoice) => invoice.total)).toEqual(requested.map(({ totalCents }) => decimal(totalCents)));
      expect(new Set(retried.map((invoice) => invoice.invoiceId)).size).toBe(CALLS);
      expect(new Set((await invoicesSince(reader.db, since)).keys())).toEqual(new Set(retried.map((invoice) => invoice.invoiceId)));
      expect(await incompleteInvoices(reader.db, since, requested)).toEqual([]);
      expect(await rowCounts(reader.db)).toEqual({
        invoices: before.invoices + BigInt(CALLS),
        items: before.items + BigInt(CALLS * LINES_PER_CALL),
      });
    } finally {
      await reader.close();
    }
  });
});

describe("the database as a whole", () => {
  it("has no invoice without lines and no line without an invoice", async () => {
    expect(await orphans(db)).toEqual({ invoicesWithoutLines: 0n, linesWithoutInvoice: 0n });
  });

  it("logged no unexpected error", () => {
    expect(server.logs.filter((entry) => typeof entry.level === "number" && entry.level >= 50)).toEqual([]);
  });
});
