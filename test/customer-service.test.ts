/**
 * CustomerService end to end: the real server (wired as main wires it) over a
 * fresh copy of the real Chinook database, called through the typed gRPC
 * client built from the same descriptors. Every method and every error code of
 * the contract in ../shared/API.md.
 */
import { randomUUID } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { status, type ServiceError } from "@grpc/grpc-js";
import {
  ContactChannel,
  CustomerProfileSchema,
  CustomerStatus,
  LoyaltyTier,
  type Customer,
  type CustomerSchema,
} from "../gen/chinook/v1/customer_pb";
import {
  CustomerService,
  type CreateCustomerRequestSchema,
  type ListCustomersRequestSchema,
} from "../gen/chinook/v1/customer_service_pb";
import { InvoiceService } from "../gen/chinook/v1/invoice_service_pb";
import type { TypedClient } from "../src/client/grpc-js";
import { CHINOOK_CUSTOMER_1, CHINOOK_CUSTOMERS } from "./support/chinook";
import { acceptedByteChanges, encodedId, resignedWith, secretOf, withPayload } from "./support/page-tokens";
import { startTestServer, type TestServer } from "./support/server";
import { readAll } from "./support/streams";

type Client = TypedClient<typeof CustomerService>;
type CustomerInit = MessageInitShape<typeof CustomerSchema>;
type CreateRequest = MessageInitShape<typeof CreateCustomerRequestSchema>;
type ListRequest = MessageInitShape<typeof ListCustomersRequestSchema>;
type OrderField = "customer_id" | "last_name" | "email" | "country" | "create_time" | "update_time";

const CHINOOK_USA_CUSTOMERS = 13;
const MISSING_ID = 999_999n;
const BEYOND_DOUBLE_PRECISION = 2n ** 53n + 1n;
// Decodes fine (proto3 enums are open) but names no value of the enum.
const UNKNOWN_ENUM_NUMBER: number = 99;
const PINO_ERROR_LEVEL = 50;

// The contract's order_by fields, as API.md names them.
const ORDER_FIELDS: readonly OrderField[] = [
  "customer_id",
  "last_name",
  "email",
  "country",
  "create_time",
  "update_time",
];
const EVERY_ORDER_BY: readonly string[] = ORDER_FIELDS.flatMap((field) => [field, `${field} desc`]);

// ---------------------------------------------------------------- helpers

const RUN = Date.now().toString(36);
let serial = 0;

function uniqueEmail(label = "customer"): string {
  serial += 1;
  return `${label}.${RUN}.${serial}@example.com`;
}

/** A valid customer with an email no other test uses. */
function newCustomer(overrides: CustomerInit = {}): CustomerInit {
  const email = uniqueEmail();
  return { firstName: "Test", lastName: `Customer ${serial}`, email, ...overrides };
}

function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && "code" in error && typeof error.code === "number" && "details" in error;
}

/** SQL, file paths and stack frames are ours; none may reach a client. */
const INTERNAL_DETAILS: readonly RegExp[] = [
  /sqlite/i,
  /\bSELECT\b/,
  /\bINSERT\b/,
  /\/data\b/,
  /\.db\b/,
  /^\s*at \S/m,
  /\bat \S+ \(\S+:\d+:\d+\)/,
];

function expectNoInternals(message: string): void {
  for (const pattern of INTERNAL_DETAILS) expect(message).not.toMatch(pattern);
}

/**
 * The ServiceError `call` fails with, after checking its code, that an
 * INVALID_ARGUMENT message names `field`, and that nothing internal leaks.
 */
async function expectCode(call: Promise<unknown>, code: status, field?: string): Promise<ServiceError> {
  let failure: unknown;
  try {
    await call;
  } catch (error) {
    failure = error;
  }
  if (!isServiceError(failure)) {
    throw new Error(`expected ${status[code]}, but the call ${failure === undefined ? "succeeded" : `threw ${String(failure)}`}`);
  }
  expect({ code: status[failure.code], details: failure.details }).toEqual({
    code: status[code],
    details: expect.stringContaining(field ?? ""),
  });
  expectNoInternals(failure.details);
  return failure;
}

/** Every page of a listing, `pageSize` at a time. */
async function listAll(client: Client, request: ListRequest = {}, pageSize = 10): Promise<Customer[]> {
  const customers: Customer[] = [];
  let pageToken = "";
  do {
    const page = await client.listCustomers({ ...request, pageSize, pageToken });
    customers.push(...page.customers);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return customers;
}

async function totalSize(client: Client, request: ListRequest = { showDeleted: true }): Promise<number> {
  return (await client.listCustomers({ ...request, pageSize: 1 })).totalSize;
}

function idsOf(customers: readonly Customer[]): bigint[] {
  return customers.map((customer) => customer.customerId);
}

function millis(time: Timestamp | undefined): number {
  if (time === undefined) throw new Error("the customer has no timestamp");
  return timestampDate(time).getTime();
}

/** `count` creates, all in flight at once. */
function createInParallel(client: Client, count: number): Promise<Customer[]> {
  return Promise.all(Array.from({ length: count }, () => client.createCustomer({ customer: newCustomer() })));
}

// ------------------------------------------- an independent model of order_by

/** SQLite's BINARY collation: the UTF-8 bytes, compared. */
function compareBinary(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** SQLite's NOCASE collation: BINARY after folding ASCII letters (only those). */
function compareNoCase(a: string, b: string): number {
  const fold = (text: string) => text.replace(/[A-Z]/g, (letter) => letter.toLowerCase());
  return compareBinary(fold(a), fold(b));
}

/** SQLite sorts NULL before every value. */
function compareNullable(a: string | undefined, b: string | undefined): number {
  if (a === undefined || b === undefined) return Number(b === undefined) - Number(a === undefined);
  return compareBinary(a, b);
}

function compareIds(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const COMPARE_SORT_KEY: Record<OrderField, (a: Customer, b: Customer) => number> = {
  customer_id: () => 0,
  last_name: (a, b) => compareNoCase(a.lastName, b.lastName),
  email: (a, b) => compareNoCase(a.email, b.email),
  country: (a, b) => compareNullable(a.country, b.country),
  create_time: (a, b) => millis(a.createTime) - millis(b.createTime),
  update_time: (a, b) => millis(a.updateTime) - millis(b.updateTime),
};

function orderFieldOf(orderBy: string): OrderField {
  const field = ORDER_FIELDS.find((candidate) => orderBy.split(" ")[0] === candidate);
  if (field === undefined) throw new Error(`not an order_by this test knows: ${orderBy}`);
  return field;
}

/** The ids of `customers` as `order_by` must list them: the key, then the id, both in its direction. */
function expectedOrder(customers: readonly Customer[], orderBy: string): bigint[] {
  const compareKey = COMPARE_SORT_KEY[orderFieldOf(orderBy)];
  const ascending = (a: Customer, b: Customer) => compareKey(a, b) || compareIds(a.customerId, b.customerId);
  const descending = orderBy.endsWith(" desc");
  const sorted = [...customers].sort((a, b) => (descending ? ascending(b, a) : ascending(a, b)));
  return idsOf(sorted);
}

async function expectEveryOrderByToMatchAnIndependentSort(client: Client): Promise<void> {
  const everyone = await listAll(client);
  for (const orderBy of EVERY_ORDER_BY) {
    const listed = await listAll(client, { orderBy }, 7);
    expect({ orderBy, ids: idsOf(listed) }).toEqual({ orderBy, ids: expectedOrder(everyone, orderBy) });
  }
}

function errorLogLines(server: TestServer): Array<Record<string, unknown>> {
  return server.logs.filter((line) => typeof line.level === "number" && line.level >= PINO_ERROR_LEVEL);
}

// ------------------------------------------- Chinook as shipped (read only)

describe("CustomerService over Chinook as shipped (no writes)", () => {
  let server: TestServer;
  let client: Client;

  beforeAll(async () => {
    server = await startTestServer();
    client = server.client(CustomerService);
  });

  afterAll(async () => {
    await server.stop();
  });

  describe("GetCustomer", () => {
    test("returns customer 1 with every column, accents intact", async () => {
      const customer = await client.getCustomer({ customerId: 1n });

      expect(customer).toMatchObject(CHINOOK_CUSTOMER_1);
      expect(customer.profile).toBeUndefined();
      // Not the 1970 placeholder the migration adds the columns with.
      expect(millis(customer.createTime)).toBeGreaterThan(0);
      expect(millis(customer.updateTime)).toBeGreaterThan(0);
      expect(customer.etag).toMatch(/^"[^"]+"$/);
    });

    test("NULL columns arrive unset (customer 2 has no company, state or fax)", async () => {
      const customer = await client.getCustomer({ customerId: 2n });

      expect(customer.lastName).toBe("Köhler");
      expect(customer.company).toBeUndefined();
      expect(customer.state).toBeUndefined();
      expect(customer.fax).toBeUndefined();
    });

    test("NOT_FOUND for an id nobody has, including one beyond 2^53", async () => {
      await expectCode(client.getCustomer({ customerId: MISSING_ID }), status.NOT_FOUND);
      await expectCode(client.getCustomer({ customerId: 2n ** 63n - 1n }), status.NOT_FOUND);
    });

    test.each([0n, -1n])("INVALID_ARGUMENT naming customer_id for id %s", async (customerId) => {
      await expectCode(client.getCustomer({ customerId }), status.INVALID_ARGUMENT, "customer_id");
    });
  });

  describe("ListCustomers paging", () => {
    test("pages 50 by default, then the remaining 9 with no further token", async () => {
      const first = await client.listCustomers({});
      expect(first.customers).toHaveLength(50);
      expect(first.nextPageToken).not.toBe("");
      expect(first.totalSize).toBe(CHINOOK_CUSTOMERS);

      const second = await client.listCustomers({ pageToken: first.nextPageToken });
      expect(second.customers).toHaveLength(CHINOOK_CUSTOMERS - 50);
      expect(second.nextPageToken).toBe("");
      expect(second.totalSize).toBe(CHINOOK_CUSTOMERS);

      const ids = idsOf([...first.customers, ...second.customers]);
      expect(ids).toEqual(Array.from({ length: CHINOOK_CUSTOMERS }, (_, i) => BigInt(i + 1)));
    });

    test("INVALID_ARGUMENT naming page_size when it is negative", async () => {
      await expectCode(client.listCustomers({ pageSize: -1 }), status.INVALID_ARGUMENT, "page_size");
    });

    test.each(EVERY_ORDER_BY)("order_by %j lists every customer as an independent sort does", async (orderBy) => {
      const everyone = await listAll(client);
      expect(everyone).toHaveLength(CHINOOK_CUSTOMERS);

      const listed = await listAll(client, { orderBy }, 7);

      expect(idsOf(listed)).toEqual(expectedOrder(everyone, orderBy));
    });

    test.each(["first_name", "customer_id sideways", "email desc extra", "; DROP TABLE customers"])(
      "INVALID_ARGUMENT naming order_by for %j",
      async (orderBy) => {
        await expectCode(client.listCustomers({ orderBy }), status.INVALID_ARGUMENT, "order_by");
      },
    );

    test.each(["garbage", "eyJ2IjoxfQ", "!!!"])("INVALID_ARGUMENT naming page_token for %j", async (pageToken) => {
      await expectCode(client.listCustomers({ pageToken }), status.INVALID_ARGUMENT, "page_token");
    });

    test("a token reused with another filter or order is INVALID_ARGUMENT", async () => {
      const page = await client.listCustomers({ country: "USA", pageSize: 5 });
      expect(page.nextPageToken).not.toBe("");
      const token = { pageToken: page.nextPageToken, pageSize: 5 };

      await expectCode(client.listCustomers({ ...token, country: "Brazil" }), status.INVALID_ARGUMENT, "page_token");
      await expectCode(client.listCustomers({ ...token }), status.INVALID_ARGUMENT, "page_token");
      await expectCode(
        client.listCustomers({ ...token, country: "USA", orderBy: "last_name" }),
        status.INVALID_ARGUMENT,
        "page_token",
      );
      const next = await client.listCustomers({ ...token, country: "USA" });
      expect(next.customers).toHaveLength(5);
    });

    describe("a page token cannot be forged", () => {
      const request = { pageSize: 5, orderBy: "last_name" };
      let token: string;

      beforeAll(async () => {
        token = (await client.listCustomers(request)).nextPageToken;
      });

      test("the token as issued continues the listing", async () => {
        const next = await client.listCustomers({ ...request, pageToken: token });

        expect(next.customers).toHaveLength(5);
        expect(next.totalSize).toBe(CHINOOK_CUSTOMERS);
      });

      test("a token whose total_size is changed to 2147483647 is INVALID_ARGUMENT naming page_token, and not quoted", async () => {
        const forged = withPayload(token, (payload) => ({ ...payload, t: 2_147_483_647 }));

        const error = await expectCode(client.listCustomers({ ...request, pageToken: forged }), status.INVALID_ARGUMENT, "page_token");
        expect(error.details).not.toContain(forged);
      });

      test("a token whose cursor is changed to -9223372036854775808 is INVALID_ARGUMENT naming page_token", async () => {
        const forged = withPayload(token, (payload) => ({ ...payload, k: ["Adams", encodedId(-(2n ** 63n))] }));

        await expectCode(client.listCustomers({ ...request, pageToken: forged }), status.INVALID_ARGUMENT, "page_token");
      });

      test("a token with any one byte changed is INVALID_ARGUMENT naming page_token", async () => {
        const refusedAsInvalid = (error: unknown) =>
          isServiceError(error) && error.code === status.INVALID_ARGUMENT && error.details.startsWith("page_token:");

        const accepted = await acceptedByteChanges(token, (pageToken) => client.listCustomers({ ...request, pageToken }), refusedAsInvalid);

        expect(accepted).toEqual([]);
      });

      test("signed with the service's own key, a cursor id or total out of range is INVALID_ARGUMENT all the same", async () => {
        const secret = await secretOf(server.app.storage.database.db, token);
        const resigned = (change: (payload: Record<string, unknown>) => Record<string, unknown>) =>
          client.listCustomers({ ...request, pageToken: resignedWith(secret, token, change) });

        expect((await resigned((payload) => payload)).customers).toHaveLength(5);
        for (const id of [-(2n ** 63n), 0n]) {
          await expectCode(resigned((payload) => ({ ...payload, k: ["Adams", encodedId(id)] })), status.INVALID_ARGUMENT, "page_token");
        }
        for (const total of [-1, 2 ** 31]) {
          await expectCode(resigned((payload) => ({ ...payload, t: total })), status.INVALID_ARGUMENT, "page_token");
        }
      });
    });
  });

  describe("ListCustomers filters", () => {
    let everyone: Customer[];

    beforeAll(async () => {
      everyone = await listAll(client);
    });

    test("country: the 13 customers in the USA", async () => {
      const expected = idsOf(everyone.filter((customer) => customer.country === "USA"));
      expect(expected).toHaveLength(CHINOOK_USA_CUSTOMERS);

      const page = await client.listCustomers({ country: "USA" });

      expect(page.totalSize).toBe(CHINOOK_USA_CUSTOMERS);
      expect(idsOf(page.customers)).toEqual(expected);
    });

    test("email: exact but case-insensitive", async () => {
      const page = await client.listCustomers({ email: "LUISG@Embraer.COM.br" });
      expect(idsOf(page.customers)).toEqual([1n]);

      const partial = await client.listCustomers({ email: "luisg@embraer" });
      expect(partial.customers).toEqual([]);
    });

    test("email: case-insensitive beyond ASCII too (customer 49 is stanisław.wójcik@wp.pl)", async () => {
      const page = await client.listCustomers({ email: "STANISŁAW.WÓJCIK@WP.PL" });

      expect(idsOf(page.customers)).toEqual([49n]);
      expect(await readAll(client.exportCustomers({ email: "Stanisław.Wójcik@wp.pl" }))).toEqual(page.customers);
    });

    test("email: another Unicode spelling of the same address finds it (ó as o + a combining accent)", async () => {
      const page = await client.listCustomers({ email: "stanisław.wo\u0301jcik@wp.pl" });

      expect(idsOf(page.customers)).toEqual([49n]);
    });

    test("name_prefix: first or last name, case-insensitive beyond ASCII, in either Unicode spelling (customer 1 is Luís Gonçalves)", async () => {
      for (const namePrefix of ["luís", "LUÍS", "gONç", "GONÇ", "Luís".normalize("NFD"), "GONÇ".normalize("NFD")]) {
        expect(idsOf((await client.listCustomers({ namePrefix })).customers)).toEqual([1n]);
      }
    });

    test("name_prefix: LIKE wildcards are plain characters", async () => {
      expect(await totalSize(client, { namePrefix: "%" })).toBe(0);
      expect(await totalSize(client, { namePrefix: "_" })).toBe(0);
    });

    test("name_prefix: first or last name starts with it", async () => {
      const startsWith = (name: string) => name.toLowerCase().startsWith("ma");
      const expected = idsOf(everyone.filter((c) => startsWith(c.firstName) || startsWith(c.lastName)));
      expect(expected.length).toBeGreaterThan(1);

      const listed = await listAll(client, { namePrefix: "Ma" });

      expect(idsOf(listed)).toEqual(expected);
    });

    test("support_rep_id: the customers of employee 3", async () => {
      const expected = idsOf(everyone.filter((customer) => customer.supportRepId === 3n));
      expect(expected.length).toBeGreaterThan(0);

      const listed = await listAll(client, { supportRepId: 3n });

      expect(idsOf(listed)).toEqual(expected);
    });

    test("status: every shipped customer is ACTIVE", async () => {
      expect(await totalSize(client, { status: CustomerStatus.ACTIVE })).toBe(CHINOOK_CUSTOMERS);
      expect(await totalSize(client, { status: CustomerStatus.SUSPENDED })).toBe(0);
    });

    test("filters are ANDed", async () => {
      const expected = idsOf(everyone.filter((c) => c.country === "USA" && c.supportRepId === 4n));
      expect(expected.length).toBeGreaterThan(0);
      expect(expected.length).toBeLessThan(CHINOOK_USA_CUSTOMERS);

      const listed = await listAll(client, { country: "USA", supportRepId: 4n });

      expect(idsOf(listed)).toEqual(expected);
    });
  });

  describe("malformed requests protobuf decodes but the contract refuses", () => {
    test("an unknown status number is INVALID_ARGUMENT naming status", async () => {
      await expectCode(client.listCustomers({ status: UNKNOWN_ENUM_NUMBER }), status.INVALID_ARGUMENT, "status");
    });

    test("an unknown loyalty_tier number is INVALID_ARGUMENT naming loyalty_tier", async () => {
      await expectCode(
        client.listCustomers({ loyaltyTier: UNKNOWN_ENUM_NUMBER }),
        status.INVALID_ARGUMENT,
        "loyalty_tier",
      );
    });

    test.each([
      ["created_after", { createdAfter: { seconds: 0n, nanos: -1 } }],
      ["created_after", { createdAfter: timestampFromDate(new Date("+010001-01-01T00:00:00Z")) }],
      ["created_before", { createdBefore: timestampFromDate(new Date("+010001-01-01T00:00:00Z")) }],
      ["created_before", { createdBefore: { seconds: -62_135_596_801n, nanos: 0 } }],
    ])("an out-of-range %s is INVALID_ARGUMENT naming it", async (field, request) => {
      await expectCode(client.listCustomers(request), status.INVALID_ARGUMENT, field);
    });

    test("the latest Timestamp, a common 'no bound', bounds nobody before it and everybody after it", async () => {
      const latest = { seconds: 253_402_300_799n, nanos: 999_999_999 };

      const before = await listAll(client, { createdBefore: latest });
      const after = await listAll(client, { createdAfter: latest });
      const exportedAfter = await readAll(client.exportCustomers({ createdAfter: latest }));

      expect(before).toHaveLength(CHINOOK_CUSTOMERS);
      expect(after).toEqual([]);
      expect(exportedAfter).toEqual([]);
    });

    test.each([
      ["country", { country: "C".repeat(41) }],
      ["email", { email: `${"é".repeat(1_000)}@example.com` }],
      ["name_prefix", { namePrefix: "%".repeat(25_001) }],
      ["name_prefix", { namePrefix: "€".repeat(41) }],
      ["tag", { tag: "t".repeat(65) }],
    ])("a filter on %s longer than the field it searches is INVALID_ARGUMENT naming it", async (field, request) => {
      await expectCode(client.listCustomers(request), status.INVALID_ARGUMENT, field);
      await expectCode(readAll(client.exportCustomers(request)), status.INVALID_ARGUMENT, field);
    });

    test("a filter as long as its field is served", async () => {
      const page = await client.listCustomers({ namePrefix: "é".repeat(40), email: `${"e".repeat(48)}@example.com` });

      expect(page.customers).toEqual([]);
    });

    test("a page token carrying a total_size past int32 is INVALID_ARGUMENT naming page_token", async () => {
      const { nextPageToken } = await client.listCustomers({ pageSize: 5 });
      const forged = withPayload(nextPageToken, (payload) => ({ ...payload, t: 2 ** 31 }));

      await expectCode(client.listCustomers({ pageSize: 5, pageToken: forged }), status.INVALID_ARGUMENT, "page_token");
    });

    test("ExportCustomers refuses an unknown status number too", async () => {
      await expectCode(
        readAll(client.exportCustomers({ status: UNKNOWN_ENUM_NUMBER })),
        status.INVALID_ARGUMENT,
        "status",
      );
    });
  });

  describe("ExportCustomers", () => {
    test("streams all 59 in id order, the same customers List returns", async () => {
      const exported = await readAll(client.exportCustomers({}));

      expect(exported).toHaveLength(CHINOOK_CUSTOMERS);
      expect(exported).toEqual(await listAll(client));
    });

    test("honours the filters: the 13 USA customers", async () => {
      const exported = await readAll(client.exportCustomers({ country: "USA" }));

      expect(idsOf(exported)).toEqual(idsOf(await listAll(client, { country: "USA" })));
      expect(exported).toHaveLength(CHINOOK_USA_CUSTOMERS);
    });
  });

  test("no call ended in an unexpected error", () => {
    expect(errorLogLines(server)).toEqual([]);
  });
});

// ------------------------------------------------------------ the writes

describe("CustomerService writes", () => {
  let server: TestServer;
  let client: Client;

  beforeAll(async () => {
    server = await startTestServer();
    client = server.client(CustomerService);
  });

  afterAll(async () => {
    await server.stop();
  });

  function createCustomer(overrides: CustomerInit = {}, request: Pick<CreateRequest, "requestId"> = {}) {
    return client.createCustomer({ customer: newCustomer(overrides), ...request });
  }

  async function storedColumn(id: bigint, column: "Company" | "data"): Promise<unknown> {
    const { db } = server.app.storage.database;
    return (await db.selectFrom("customers").select(column).where("CustomerId", "=", id).executeTakeFirstOrThrow())[column];
  }

  describe("CreateCustomer", () => {
    const lastContact = timestampFromDate(new Date("2024-05-06T07:08:09.123Z"));
    const fullProfile = {
      loyaltyTier: LoyaltyTier.GOLD,
      tags: ["vip", "früh"],
      favoriteGenreIds: [1n, BEYOND_DOUBLE_PRECISION, 2n ** 63n - 1n],
      marketingOptIn: true,
      attributes: { source: "web", "schlüssel": "wert ✓" },
      preferredContact: ContactChannel.PHONE,
      notes: "line one\nline two",
      lastContactTime: lastContact,
    };

    test("returns the new customer: id, ACTIVE, timestamps, etag and the whole profile", async () => {
      const sent = newCustomer({ company: "", city: "Zürich", supportRepId: 4n, profile: fullProfile });

      const created = await client.createCustomer({ customer: sent });

      expect(created.customerId).toBeGreaterThan(CHINOOK_CUSTOMERS);
      expect(created).toMatchObject({
        firstName: sent.firstName,
        email: sent.email,
        company: "",
        city: "Zürich",
        supportRepId: 4n,
        status: CustomerStatus.ACTIVE,
      });
      expect(millis(created.createTime)).toBe(millis(created.updateTime));
      expect(created.etag).toMatch(/^"[^"]+"$/);
      expect(created.profile).toEqual(create(CustomerProfileSchema, fullProfile));
      expect(await client.getCustomer({ customerId: created.customerId })).toEqual(created);
      // An empty string is not NULL.
      expect(await storedColumn(created.customerId, "Company")).toBe("");
    });

    test("int64 beyond 2^53 round-trips exactly", async () => {
      const created = await createCustomer({ profile: { favoriteGenreIds: [BEYOND_DOUBLE_PRECISION] } });

      const read = await client.getCustomer({ customerId: created.customerId });

      expect(read.profile?.favoriteGenreIds).toEqual([9007199254740993n]);
      expect(String(await storedColumn(created.customerId, "data"))).toContain('"9007199254740993"');
    });

    test.each([
      ["missing first_name", { firstName: "" }, "customer.first_name"],
      ["blank first_name", { firstName: "   " }, "customer.first_name"],
      ["last_name of 21 characters", { lastName: "x".repeat(21) }, "customer.last_name"],
      ["missing email", { email: "" }, "customer.email"],
      ["malformed email", { email: "not-an-email" }, "customer.email"],
      ["email of 61 characters", { email: `${"a".repeat(49)}@example.com` }, "customer.email"],
      ["control character in first_name", { firstName: "Bell\u0007" }, "customer.first_name"],
      ["company of 81 characters", { company: "c".repeat(81) }, "customer.company"],
      ["status DELETED", { status: CustomerStatus.DELETED }, "customer.status"],
      ["unknown status number", { status: UNKNOWN_ENUM_NUMBER }, "customer.status"],
      ["unknown preferred_contact", { profile: { preferredContact: UNKNOWN_ENUM_NUMBER } }, "customer.profile.preferred_contact"],
      ["blank tag", { profile: { tags: ["ok", ""] } }, "customer.profile.tags[1]"],
      ["non-positive genre id", { profile: { favoriteGenreIds: [0n] } }, "customer.profile.favorite_genre_ids[0]"],
    ] satisfies Array<[string, CustomerInit, string]>)(
      "%s is INVALID_ARGUMENT naming the field, and creates nothing",
      async (_case, overrides, field) => {
        const before = await totalSize(client);

        await expectCode(createCustomer(overrides), status.INVALID_ARGUMENT, field);

        expect(await totalSize(client)).toBe(before);
      },
    );

    test("a missing customer is INVALID_ARGUMENT naming customer", async () => {
      await expectCode(client.createCustomer({}), status.INVALID_ARGUMENT, "customer");
    });

    test("a last_name of exactly 20 characters, accents counted as one, is accepted", async () => {
      const lastName = "é".repeat(20);

      const created = await createCustomer({ lastName });

      expect(created.lastName).toBe(lastName);
    });

    test("a duplicate email, in another case, is ALREADY_EXISTS and creates nothing", async () => {
      const email = uniqueEmail("Duplicate");
      await createCustomer({ email });
      const before = await totalSize(client);

      await expectCode(createCustomer({ email: email.toUpperCase() }), status.ALREADY_EXISTS);
      await expectCode(createCustomer({ email: "LuisG@Embraer.com.br" }), status.ALREADY_EXISTS);
      await expectCode(createCustomer({ email: "STANISŁAW.WÓJCIK@WP.PL" }), status.ALREADY_EXISTS, "customer.email");

      expect(await totalSize(client)).toBe(before);
    });

    test("an unknown support_rep_id is INVALID_ARGUMENT naming customer.support_rep_id", async () => {
      const before = await totalSize(client);

      await expectCode(createCustomer({ supportRepId: 999n }), status.INVALID_ARGUMENT, "customer.support_rep_id");

      expect(await totalSize(client)).toBe(before);
    });

    test("the same request_id twice creates once and answers the same customer", async () => {
      const request = { customer: newCustomer(), requestId: randomUUID() };
      const before = await totalSize(client);

      const first = await client.createCustomer(request);
      const retry = await client.createCustomer(request);

      expect(retry.customerId).toBe(first.customerId);
      expect(retry.etag).toBe(first.etag);
      expect(await totalSize(client)).toBe(before + 1);
    });

    test("a retry answers the first result, whatever has happened to the customer since (AIP-155)", async () => {
      const request = { customer: newCustomer(), requestId: randomUUID() };
      const first = await client.createCustomer(request);
      await client.updateCustomer({ customer: { customerId: first.customerId, company: "Changed" }, updateMask: { paths: ["company"] } });
      await client.deleteCustomer({ customerId: first.customerId });

      const retry = await client.createCustomer(request);

      expect(retry).toEqual(first);
      expect((await client.getCustomer({ customerId: first.customerId })).status).toBe(CustomerStatus.DELETED);
    });

    test("parallel retries with one request_id still create once", async () => {
      const request = { customer: newCustomer(), requestId: randomUUID() };
      const before = await totalSize(client);

      const answers = await Promise.all(Array.from({ length: 5 }, () => client.createCustomer(request)));

      expect(new Set(idsOf(answers)).size).toBe(1);
      expect(await totalSize(client)).toBe(before + 1);
    });

    test("a request_id reused for a different customer is INVALID_ARGUMENT naming request_id", async () => {
      const requestId = randomUUID();
      await createCustomer({}, { requestId });

      await expectCode(createCustomer({}, { requestId }), status.INVALID_ARGUMENT, "request_id");
    });

    test("a request_id that is not a UUID is INVALID_ARGUMENT naming request_id", async () => {
      const before = await totalSize(client);

      await expectCode(createCustomer({}, { requestId: "retry-1" }), status.INVALID_ARGUMENT, "request_id");

      expect(await totalSize(client)).toBe(before);
    });

    test("output-only fields in the request are ignored", async () => {
      const created = await createCustomer({
        customerId: 12345n,
        etag: '"forged"',
        createTime: timestampFromDate(new Date("2000-01-01T00:00:00Z")),
        updateTime: timestampFromDate(new Date("2000-01-01T00:00:00Z")),
      });

      expect(created.customerId).not.toBe(12345n);
      expect(created.etag).not.toBe('"forged"');
      expect(millis(created.createTime)).toBeGreaterThan(Date.parse("2020-01-01T00:00:00Z"));
      await expectCode(client.getCustomer({ customerId: 12345n }), status.NOT_FOUND);
    });
  });

  describe("UpdateCustomer", () => {
    test("mask first_name changes only the first name", async () => {
      const created = await createCustomer({ city: "Lisbon" });

      const updated = await client.updateCustomer({
        customer: { customerId: created.customerId, firstName: "Renamed", lastName: "Ignored", city: "Ignored" },
        updateMask: { paths: ["first_name"] },
      });

      expect(updated).toMatchObject({ firstName: "Renamed", lastName: created.lastName, city: "Lisbon", email: created.email });
      expect(await client.getCustomer({ customerId: created.customerId })).toEqual(updated);
    });

    test("mask profile.loyalty_tier changes the tier and keeps the tags", async () => {
      const created = await createCustomer({ profile: { loyaltyTier: LoyaltyTier.BRONZE, tags: ["keep"] } });

      const updated = await client.updateCustomer({
        customer: { customerId: created.customerId, profile: { loyaltyTier: LoyaltyTier.PLATINUM, tags: ["ignored"] } },
        updateMask: { paths: ["profile.loyalty_tier"] },
      });

      expect(updated.profile?.loyaltyTier).toBe(LoyaltyTier.PLATINUM);
      expect(updated.profile?.tags).toEqual(["keep"]);
    });

    test("mask profile.tags replaces the tags, and the tag filter follows", async () => {
      const [oldTag, newTag] = [`old-${RUN}`, `new-${RUN}`];
      const created = await createCustomer({ profile: { loyaltyTier: LoyaltyTier.SILVER, tags: [oldTag, "other"] } });

      const updated = await client.updateCustomer({
        customer: { customerId: created.customerId, profile: { tags: [newTag] } },
        updateMask: { paths: ["profile.tags"] },
      });

      expect(updated.profile?.tags).toEqual([newTag]);
      expect(updated.profile?.loyaltyTier).toBe(LoyaltyTier.SILVER);
      expect(idsOf(await listAll(client, { tag: oldTag }))).toEqual([]);
      expect(idsOf(await listAll(client, { tag: newTag }))).toEqual([created.customerId]);
    });

    test("an empty mask updates exactly the fields the request sets", async () => {
      const created = await createCustomer({ company: "Acme", profile: { tags: ["kept"] } });

      const updated = await client.updateCustomer({
        customer: { customerId: created.customerId, city: "Oslo", profile: { marketingOptIn: true } },
      });

      expect(updated).toMatchObject({ city: "Oslo", company: "Acme", firstName: created.firstName, email: created.email });
      expect(updated.profile).toMatchObject({ marketingOptIn: true, tags: ["kept"] });
    });

    test.each(["nonexistent", "profile.nope", "first_name.deeper", "", "*,first_name"])(
      "unknown mask path %j is INVALID_ARGUMENT naming update_mask and changes nothing",
      async (path) => {
        const created = await createCustomer();
        const paths = path.split(",");

        await expectCode(
          client.updateCustomer({ customer: { customerId: created.customerId, firstName: "Changed" }, updateMask: { paths } }),
          status.INVALID_ARGUMENT,
          "update_mask",
        );

        expect(await client.getCustomer({ customerId: created.customerId })).toEqual(created);
      },
    );

    test("a stale etag is FAILED_PRECONDITION; the current one succeeds and changes the etag", async () => {
      const created = await createCustomer();
      const changed = await client.updateCustomer({
        customer: { customerId: created.customerId, city: "Porto" },
        updateMask: { paths: ["city"] },
      });
      expect(changed.etag).not.toBe(created.etag);

      const stale = await expectCode(
        client.updateCustomer({
          customer: { customerId: created.customerId, city: "Stale", etag: created.etag },
          updateMask: { paths: ["city"] },
        }),
        status.FAILED_PRECONDITION,
      );
      expect(stale.details).toMatch(/^customer\.etag: /);
      expect((await client.getCustomer({ customerId: created.customerId })).city).toBe("Porto");

      const current = await client.updateCustomer({
        customer: { customerId: created.customerId, city: "Fresh", etag: changed.etag },
        updateMask: { paths: ["city"] },
      });
      expect(current.city).toBe("Fresh");
      expect(current.etag).not.toBe(changed.etag);
    });

    test("output-only fields are ignored, in the request and in the mask", async () => {
      const created = await createCustomer();
      const year2000 = timestampFromDate(new Date("2000-01-01T00:00:00Z"));

      const updated = await client.updateCustomer({
        customer: { customerId: created.customerId, firstName: "Kept", createTime: year2000, updateTime: year2000 },
        updateMask: { paths: ["first_name", "create_time", "update_time", "customer_id"] },
      });

      expect(updated.customerId).toBe(created.customerId);
      expect(updated.firstName).toBe("Kept");
      expect(updated.createTime).toEqual(created.createTime);
      expect(millis(updated.updateTime)).toBeGreaterThanOrEqual(millis(created.updateTime));
    });

    test("masking an optional field the request leaves unset clears it to NULL", async () => {
      const created = await createCustomer({ company: "Acme" });

      const updated = await client.updateCustomer({
        customer: { customerId: created.customerId },
        updateMask: { paths: ["company"] },
      });

      expect(updated.company).toBeUndefined();
      expect((await client.getCustomer({ customerId: created.customerId })).company).toBeUndefined();
      expect(await storedColumn(created.customerId, "Company")).toBeNull();
    });

    test("an update that breaks a rule is INVALID_ARGUMENT naming the field and changes nothing", async () => {
      const created = await createCustomer();

      await expectCode(
        client.updateCustomer({
          customer: { customerId: created.customerId, lastName: "y".repeat(21) },
          updateMask: { paths: ["last_name"] },
        }),
        status.INVALID_ARGUMENT,
        "customer.last_name",
      );
      await expectCode(
        client.updateCustomer({ customer: { customerId: created.customerId, supportRepId: 999n } }),
        status.INVALID_ARGUMENT,
        "customer.support_rep_id",
      );

      expect(await client.getCustomer({ customerId: created.customerId })).toEqual(created);
    });

    test.each([
      ["ASCII", () => uniqueEmail("taken")],
      ["non-ASCII", () => `ólafur.${uniqueEmail("jóhannsson")}`],
    ])("taking another live customer's %s email, in another case, is ALREADY_EXISTS", async (_case, emailOf) => {
      const taken = await createCustomer({ email: emailOf() });
      const other = await createCustomer();

      await expectCode(
        client.updateCustomer({
          customer: { customerId: other.customerId, email: taken.email.toUpperCase() },
          updateMask: { paths: ["email"] },
        }),
        status.ALREADY_EXISTS,
      );

      expect((await client.getCustomer({ customerId: other.customerId })).email).toBe(other.email);
    });

    test("changing only the case of one's own email is fine", async () => {
      const created = await createCustomer({ email: `ørsted.${uniqueEmail()}` });

      const updated = await client.updateCustomer({
        customer: { customerId: created.customerId, email: created.email.toUpperCase() },
        updateMask: { paths: ["email"] },
      });

      expect(updated.email).toBe(created.email.toUpperCase());
    });

    test("a missing customer is NOT_FOUND; a missing id is INVALID_ARGUMENT", async () => {
      await expectCode(
        client.updateCustomer({ customer: { customerId: MISSING_ID, firstName: "Nobody" }, updateMask: { paths: ["first_name"] } }),
        status.NOT_FOUND,
      );
      await expectCode(
        client.updateCustomer({ customer: { firstName: "Nobody" } }),
        status.INVALID_ARGUMENT,
        "customer.customer_id",
      );
    });
  });

  describe("DeleteCustomer and UndeleteCustomer", () => {
    test("soft delete: DELETED, hidden from List unless show_deleted, still readable", async () => {
      const created = await createCustomer();
      const byEmail = { email: created.email };

      const deleted = await client.deleteCustomer({ customerId: created.customerId });

      expect(deleted.status).toBe(CustomerStatus.DELETED);
      expect(deleted.etag).not.toBe(created.etag);
      expect((await client.getCustomer({ customerId: created.customerId })).status).toBe(CustomerStatus.DELETED);
      expect(await totalSize(client, byEmail)).toBe(0);
      expect(idsOf(await listAll(client, { ...byEmail, showDeleted: true }))).toEqual([created.customerId]);
      expect(idsOf(await listAll(client, { ...byEmail, status: CustomerStatus.DELETED }))).toEqual([created.customerId]);
      expect(idsOf(await readAll(client.exportCustomers(byEmail)))).toEqual([]);
      expect(idsOf(await readAll(client.exportCustomers({ ...byEmail, showDeleted: true })))).toEqual([created.customerId]);
    });

    test("a deleted customer's invoices still belong to it (customer 2)", async () => {
      const invoices = server.client(InvoiceService);
      const invoiceIdsOf = async () =>
        (await invoices.listInvoices({ customerId: 2n, pageSize: 1000 })).invoices.map((invoice) => invoice.invoiceId);
      const before = await invoiceIdsOf();
      expect(before).toHaveLength(7);

      await client.deleteCustomer({ customerId: 2n });

      expect(await invoiceIdsOf()).toEqual(before);
      const { db } = server.app.storage.database;
      const { stored } = await db
        .selectFrom("invoices")
        .select((eb) => eb.fn.countAll<bigint>().as("stored"))
        .where("CustomerId", "=", 2n)
        .executeTakeFirstOrThrow();
      expect(stored).toBe(7n);
      expect((await client.getCustomer({ customerId: 2n })).status).toBe(CustomerStatus.DELETED);
    });

    test("a stale etag is FAILED_PRECONDITION and leaves the customer ACTIVE", async () => {
      const created = await createCustomer();
      const changed = await client.updateCustomer({
        customer: { customerId: created.customerId, city: "Graz" },
        updateMask: { paths: ["city"] },
      });

      const stale = await expectCode(
        client.deleteCustomer({ customerId: created.customerId, etag: created.etag }),
        status.FAILED_PRECONDITION,
      );
      expect(stale.details).toMatch(/^etag: /);
      expect((await client.getCustomer({ customerId: created.customerId })).status).toBe(CustomerStatus.ACTIVE);

      const deleted = await client.deleteCustomer({ customerId: created.customerId, etag: changed.etag });
      expect(deleted.status).toBe(CustomerStatus.DELETED);
    });

    test("a deleted customer's email can be used by a new customer", async () => {
      const created = await createCustomer();
      await client.deleteCustomer({ customerId: created.customerId });

      const successor = await createCustomer({ email: created.email });

      expect(successor.customerId).not.toBe(created.customerId);
      expect(successor.email).toBe(created.email);
    });

    test("delete: NOT_FOUND for a missing customer and, as AIP-164 has it, for a deleted one; INVALID_ARGUMENT for id 0", async () => {
      const deleted = await createCustomer();
      await client.deleteCustomer({ customerId: deleted.customerId });

      await expectCode(client.deleteCustomer({ customerId: deleted.customerId }), status.NOT_FOUND);
      await expectCode(client.deleteCustomer({ customerId: MISSING_ID }), status.NOT_FOUND);
      await expectCode(client.deleteCustomer({ customerId: 0n }), status.INVALID_ARGUMENT, "customer_id");
    });

    test("undelete brings a customer back to ACTIVE and into List", async () => {
      const created = await createCustomer();
      await client.deleteCustomer({ customerId: created.customerId });

      const restored = await client.undeleteCustomer({ customerId: created.customerId });

      expect(restored.status).toBe(CustomerStatus.ACTIVE);
      expect(idsOf(await listAll(client, { email: created.email }))).toEqual([created.customerId]);
    });

    test.each([
      ["ASCII", () => uniqueEmail("returning")],
      ["non-ASCII", () => `ğül.${uniqueEmail("returning")}`],
    ])("undelete is ALREADY_EXISTS when a live customer took the %s email meanwhile", async (_case, emailOf) => {
      const created = await createCustomer({ email: emailOf() });
      await client.deleteCustomer({ customerId: created.customerId });
      await createCustomer({ email: created.email.toUpperCase() });

      await expectCode(client.undeleteCustomer({ customerId: created.customerId }), status.ALREADY_EXISTS);

      expect((await client.getCustomer({ customerId: created.customerId })).status).toBe(CustomerStatus.DELETED);
    });

    test("undelete of an active customer is ALREADY_EXISTS (AIP-164); of a missing one NOT_FOUND", async () => {
      const created = await createCustomer();

      await expectCode(client.undeleteCustomer({ customerId: created.customerId }), status.ALREADY_EXISTS);
      await expectCode(client.undeleteCustomer({ customerId: MISSING_ID }), status.NOT_FOUND);
      await expectCode(client.undeleteCustomer({ customerId: -5n }), status.INVALID_ARGUMENT, "customer_id");
    });
  });

  describe("ListCustomers over changing data", () => {
    test("status filter finds the customers in that state", async () => {
      const suspended = await createCustomer({ status: CustomerStatus.SUSPENDED });
      const everyone = await listAll(client);

      const listed = await listAll(client, { status: CustomerStatus.SUSPENDED });

      expect(idsOf(listed)).toEqual(idsOf(everyone.filter((c) => c.status === CustomerStatus.SUSPENDED)));
      expect(idsOf(listed)).toContain(suspended.customerId);
    });

    test("loyalty_tier and tag filters read the profile", async () => {
      const tag = `tagged-${RUN}`;
      const gold = await createCustomer({ profile: { loyaltyTier: LoyaltyTier.GOLD, tags: [tag] } });
      await createCustomer({ profile: { loyaltyTier: LoyaltyTier.GOLD } });
      const silver = await createCustomer({ profile: { loyaltyTier: LoyaltyTier.SILVER, tags: ["x", tag] } });
      const everyone = await listAll(client);

      const golds = await listAll(client, { loyaltyTier: LoyaltyTier.GOLD });
      const tagged = await listAll(client, { tag });
      const goldAndTagged = await listAll(client, { loyaltyTier: LoyaltyTier.GOLD, tag });

      expect(idsOf(golds)).toEqual(idsOf(everyone.filter((c) => c.profile?.loyaltyTier === LoyaltyTier.GOLD)));
      expect(idsOf(tagged)).toEqual([gold.customerId, silver.customerId]);
      expect(idsOf(goldAndTagged)).toEqual([gold.customerId]);
      expect(idsOf(await readAll(client.exportCustomers({ tag })))).toEqual(idsOf(tagged));
    });

    test("name_prefix finds a name stored decomposed (e + a combining accent) from its own text", async () => {
      const decomposed = `Jose\u0301${serial}`;
      const created = await createCustomer({ firstName: decomposed });

      const page = await client.listCustomers({ namePrefix: decomposed });

      expect(idsOf(page.customers)).toEqual([created.customerId]);
    });

    test("the email filter takes the decomposed spelling of a 60-character address, normalizing it first", async () => {
      const email = `josé.andré.${RUN}.${"x".repeat(36 - RUN.length)}@example.com`;
      expect([...email]).toHaveLength(60);
      const created = await createCustomer({ email });

      const page = await client.listCustomers({ email: email.normalize("NFD") });

      expect(idsOf(page.customers)).toEqual([created.customerId]);
    });

    test("created_after is inclusive, created_before exclusive", async () => {
      const pivot = await createCustomer();
      const later = await createCustomer();
      const pivotTime = pivot.createTime;
      const everyone = await listAll(client);

      const after = await listAll(client, { createdAfter: pivotTime });
      const before = await listAll(client, { createdBefore: pivotTime });

      expect(idsOf(after)).toEqual(idsOf(everyone.filter((c) => millis(c.createTime) >= millis(pivotTime))));
      expect(idsOf(before)).toEqual(idsOf(everyone.filter((c) => millis(c.createTime) < millis(pivotTime))));
      expect(idsOf(after)).toEqual(expect.arrayContaining([pivot.customerId, later.customerId]));
      expect(idsOf(before)).toContain(1n);
      expect(idsOf(before)).not.toContain(pivot.customerId);
    });

    test("a bound between two milliseconds falls between them: times are stored to the millisecond", async () => {
      const created = await createCustomer();
      if (created.createTime === undefined) throw new Error("the customer has no create_time");
      const { seconds, nanos } = created.createTime;
      const justAfter = { seconds, nanos: nanos + 400_000 };

      const after = idsOf(await listAll(client, { createdAfter: justAfter }));
      const before = idsOf(await listAll(client, { createdBefore: justAfter }));

      expect(after).not.toContain(created.customerId);
      expect(before).toContain(created.customerId);
    });

    test.each(["customer_id", "last_name", "last_name desc", "email"])(
      "keyset paging by %j skips and repeats nobody while customers are inserted between pages",
      async (orderBy) => {
        const preexisting = idsOf(await listAll(client, { orderBy }));
        const seen: bigint[] = [];
        let pageToken = "";
        do {
          const page = await client.listCustomers({ orderBy, pageSize: 10, pageToken });
          seen.push(...idsOf(page.customers));
          pageToken = page.nextPageToken;
          // One sorts before every existing customer, one after.
          await createCustomer({ lastName: "Aaaa", email: `aaaa.${uniqueEmail()}` });
          await createCustomer({ lastName: "Zzzz", email: `zzzz.${uniqueEmail()}` });
        } while (pageToken !== "");

        expect(new Set(seen).size).toBe(seen.length);
        expect(seen).toEqual(expect.arrayContaining(preexisting));
      },
    );

    test("after all these writes, every order_by still matches an independent sort", async () => {
      await expectEveryOrderByToMatchAnIndependentSort(client);
    });
  });

  describe("BatchGetCustomers", () => {
    test("answers in the order asked, duplicates included, deleted ones too", async () => {
      const deleted = await createCustomer();
      await client.deleteCustomer({ customerId: deleted.customerId });
      const asked = [3n, deleted.customerId, 1n, 3n];

      const { customers } = await client.batchGetCustomers({ customerIds: asked });

      expect(idsOf(customers)).toEqual(asked);
      expect(customers[0]).toEqual(await client.getCustomer({ customerId: 3n }));
      expect(customers[1]?.status).toBe(CustomerStatus.DELETED);
    });

    test("NOT_FOUND names the first missing id", async () => {
      const error = await expectCode(
        client.batchGetCustomers({ customerIds: [1n, 999_998n, 999_997n] }),
        status.NOT_FOUND,
        "999998",
      );
      expect(error.details).not.toContain("999997");
    });

    test("INVALID_ARGUMENT for more than 1000 ids and for a non-positive one", async () => {
      const tooMany = Array.from({ length: 1001 }, () => 1n);

      await expectCode(client.batchGetCustomers({ customerIds: tooMany }), status.INVALID_ARGUMENT, "customer_ids");
      await expectCode(client.batchGetCustomers({ customerIds: [1n, 0n] }), status.INVALID_ARGUMENT, "customer_ids[1]");
    });
  });

  describe("BatchCreateCustomers", () => {
    const batchOf = (...customers: CustomerInit[]) => ({ requests: customers.map((customer) => ({ customer })) });

    test("creates every customer, in order", async () => {
      const sent = [newCustomer(), newCustomer({ profile: { tags: ["batch"] } }), newCustomer()];

      const { customers } = await client.batchCreateCustomers(batchOf(...sent));

      expect(customers.map((customer) => customer.email)).toEqual(sent.map((customer) => customer.email));
      const ids = idsOf(customers);
      expect([...ids].sort(compareIds)).toEqual(ids);
      expect((await client.batchGetCustomers({ customerIds: ids })).customers).toEqual(customers);
    });

    test.each([
      ["an invalid item", newCustomer({ email: "broken" }), status.INVALID_ARGUMENT, "requests[1].customer.email"],
      ["an unknown support rep", newCustomer({ supportRepId: 999n }), status.INVALID_ARGUMENT, "requests[1].customer.support_rep_id"],
    ] as const)("%s in the middle fails the batch, naming it, and creates nothing", async (_case, bad, code, field) => {
      const first = newCustomer();
      const before = await totalSize(client);

      await expectCode(client.batchCreateCustomers(batchOf(first, bad, newCustomer())), code, field);

      expect(await totalSize(client)).toBe(before);
      expect(await totalSize(client, { email: first.email, showDeleted: true })).toBe(0);
    });

    test("duplicate emails within the batch are ALREADY_EXISTS and create nothing", async () => {
      const email = uniqueEmail("twice");
      const before = await totalSize(client);

      await expectCode(
        client.batchCreateCustomers(batchOf(newCustomer({ email }), newCustomer(), newCustomer({ email: email.toUpperCase() }))),
        status.ALREADY_EXISTS,
      );

      expect(await totalSize(client)).toBe(before);
    });

    test("more than 1000 requests is INVALID_ARGUMENT naming requests and creates nothing", async () => {
      const before = await totalSize(client);
      const tooMany = Array.from({ length: 1001 }, () => newCustomer());

      await expectCode(client.batchCreateCustomers(batchOf(...tooMany)), status.INVALID_ARGUMENT, "requests");

      expect(await totalSize(client)).toBe(before);
    });
  });

  describe("concurrency", () => {
    test("20 parallel creates with one email: exactly one wins, the rest are ALREADY_EXISTS", async () => {
      const email = uniqueEmail("race");
      const attempts = Array.from({ length: 20 }, (_, i) => createCustomer({ email: i % 2 === 0 ? email : email.toUpperCase() }));

      const outcomes = await Promise.allSettled(attempts);

      const winners = outcomes.filter((outcome) => outcome.status === "fulfilled");
      const losers = outcomes.flatMap((outcome) => (outcome.status === "rejected" ? [outcome.reason] : []));
      expect(winners).toHaveLength(1);
      expect(losers.map((error) => (isServiceError(error) ? status[error.code] : String(error)))).toEqual(
        Array.from({ length: 19 }, () => "ALREADY_EXISTS"),
      );
      expect(await totalSize(client, { email })).toBe(1);
    });

    test("50 parallel creates with distinct emails: 50 distinct ids, all retrievable", async () => {
      const created = await createInParallel(client, 50);

      const ids = idsOf(created);
      expect(new Set(ids).size).toBe(50);
      const read = await client.batchGetCustomers({ customerIds: ids });
      expect(read.customers.map((customer) => customer.email)).toEqual(created.map((customer) => customer.email));
    });
  });

  test("no call ended in an unexpected error", () => {
    expect(errorLogLines(server)).toEqual([]);
  });
});

// ------------------------------------------ more customers than one page can hold

describe("CustomerService with more than 1000 customers", () => {
  const BULK = 1000;
  let server: TestServer;
  let client: Client;

  beforeAll(async () => {
    server = await startTestServer();
    client = server.client(CustomerService);
    const requests = Array.from({ length: BULK }, () => ({ customer: newCustomer() }));
    const { customers } = await client.batchCreateCustomers({ requests });
    expect(customers).toHaveLength(BULK);
  });

  afterAll(async () => {
    await server.stop();
  });

  test("page_size 2000 is clamped to 1000", async () => {
    const page = await client.listCustomers({ pageSize: 2000 });

    expect(page.customers).toHaveLength(1000);
    expect(page.nextPageToken).not.toBe("");
    expect(page.totalSize).toBe(CHINOOK_CUSTOMERS + BULK);
  });

  test("ExportCustomers streams every customer in id order", async () => {
    const exported = await readAll(client.exportCustomers({}));

    const ids = idsOf(exported);
    expect(ids).toHaveLength(CHINOOK_CUSTOMERS + BULK);
    expect([...ids].sort(compareIds)).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test("a client cancelling an export mid-stream gets CANCELLED, and the server keeps serving", async () => {
    const call = client.exportCustomers({});
    let received = 0;
    const ended = new Promise<{ outcome: string; received: number }>((resolve) => {
      call.on("data", () => {
        received += 1;
        if (received === 3) call.cancel();
      });
      call.on("error", (error) => resolve({ outcome: isServiceError(error) ? status[error.code] : String(error), received }));
      call.on("end", () => resolve({ outcome: "the stream completed", received }));
    });

    const { outcome, received: receivedBeforeTheEnd } = await ended;

    expect(outcome).toBe("CANCELLED");
    expect(receivedBeforeTheEnd).toBeLessThan(CHINOOK_CUSTOMERS + BULK);
    expect((await client.getCustomer({ customerId: 1n })).customerId).toBe(1n);
    expect(errorLogLines(server)).toEqual([]);
  });
});

describe("CustomerService with customers as large as validation allows", () => {
  let server: TestServer;
  let client: Client;
  const created: bigint[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    client = server.client(CustomerService);
    // ~100 kB of attributes each; ten to a batch keeps each request well below the 4 MiB a server accepts.
    const attributes = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`key${i}`, "v".repeat(1024)]));
    for (let batch = 0; batch < 4; batch++) {
      const requests = Array.from({ length: 10 }, () => ({ customer: newCustomer({ country: "Bigland", profile: { attributes } }) }));
      created.push(...idsOf((await client.batchCreateCustomers({ requests })).customers));
    }
  });

  afterAll(async () => {
    await server.stop();
  });

  test("a default ListCustomers page stays readable by a default client, and the pages hold every customer once", async () => {
    const seen: bigint[] = [];
    let pageToken = "";
    do {
      // Twice each page: the second read is the one the read cache keeps, and pages the same.
      const page = await client.listCustomers({ country: "Bigland", pageToken });
      expect(await client.listCustomers({ country: "Bigland", pageToken })).toEqual(page);
      expect(page.customers.length).toBeLessThan(created.length);
      seen.push(...idsOf(page.customers));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");

    expect(seen).toEqual(created);
  });
});
