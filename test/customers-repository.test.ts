import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { Registry } from "prom-client";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  CustomerProfileSchema,
  CustomerSchema,
  CustomerStatus,
  LoyaltyTier,
  type Customer,
} from "../gen/chinook/v1/customer_pb";
import { ListCustomersResponseSchema } from "../gen/chinook/v1/customer_service_pb";
import { SqliteDatabase, SqliteError } from "../src/db/sqlite/driver";
import { encodePageToken, type CursorValue } from "../src/db/paging";
import type { CustomerRow } from "../src/db/schema";
import {
  ESTIMATE_TTL_MS,
  MAX_PAGE_BYTES,
  parseOrderBy,
  type Customers,
  type CustomerFilter,
  type CustomerOrder,
  type CustomerOrderField,
} from "../src/customers/customers";
import { ORDER_FIELDS, pagingBinding } from "../src/customers/listing";
import { RowMemo } from "../src/customers/row-memo";
import { customerSizeBound } from "../src/customers/size";
import { EXACT_COUNT_LIMIT, estimatedTotal, type MatchSample } from "../src/customers/total-size";
import {
  AlreadyExistsError,
  DomainError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
} from "../src/errors";
import { CHINOOK_CUSTOMER_1 } from "./support/chinook";
import { customersOn, indexedTags } from "./support/customers";
import type { TestDatabase } from "./support/database";
import { ENGINE_DATABASES, sqliteDatabases, type EngineDatabase, type QueryLog, type SqliteEngineDatabase } from "./support/engines";
import { registryValue } from "./support/prometheus";
import { planAsIfMillionCustomers } from "./support/scale";

/**
 * The customers domain over each engine's store: the same assertions on
 * SQLite and on PostgreSQL, each engine on a fresh Chinook database of its
 * own. What only SQLite has (another process's write lock, its query plans)
 * is tested at the end, on SQLite alone.
 */

/** The columns the tests compare against, read straight from the database. */
const RAW_COLUMNS = [
  "CustomerId",
  "FirstName",
  "LastName",
  "Email",
  "Company",
  "Country",
  "SupportRepId",
  "status",
  "data",
  "created_at",
  "updated_at",
] as const;
type RawRow = Pick<CustomerRow, (typeof RAW_COLUMNS)[number]>;

const EVERY_ORDER: readonly CustomerOrder[] = ORDER_FIELDS.flatMap((field) => [
  { field, descending: false },
  { field, descending: true },
]);
const BY_ID: CustomerOrder = { field: "customer_id", descending: false };
const LIVE: CustomerFilter = { showDeleted: false };
const DELETED = BigInt(CustomerStatus.DELETED);

let serial = 0;

function newCustomer(init: MessageInitShape<typeof CustomerSchema> = {}): Customer {
  serial += 1;
  return create(CustomerSchema, {
    firstName: "Test",
    lastName: `Tester${serial}`,
    email: `tester${serial}@example.test`,
    ...init,
  });
}

/** Text in byte order (SQLite's BINARY, PostgreSQL's "C"): memcmp over UTF-8. */
function binary(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Names and emails sort as SQLite's NOCASE, which folds ASCII letters only. */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (letter) => letter.toLowerCase());
}

function noCase(a: string, b: string): number {
  return binary(asciiLower(a), asciiLower(b));
}

/** NULL sorts before every value. */
function nullsFirst(a: string | null, b: string | null): number {
  if (a === null) return b === null ? 0 : -1;
  if (b === null) return 1;
  return binary(a, b);
}

const SORT_KEY_ORDER: Record<CustomerOrderField, (a: RawRow, b: RawRow) => number> = {
  customer_id: () => 0,
  last_name: (a, b) => noCase(a.LastName, b.LastName),
  email: (a, b) => noCase(a.Email, b.Email),
  country: (a, b) => nullsFirst(a.Country, b.Country),
  create_time: (a, b) => binary(a.created_at, b.created_at),
  update_time: (a, b) => binary(a.updated_at, b.updated_at),
};

function compareRows(order: CustomerOrder): (a: RawRow, b: RawRow) => number {
  return (a, b) => {
    const byId = a.CustomerId < b.CustomerId ? -1 : a.CustomerId > b.CustomerId ? 1 : 0;
    const ascending = SORT_KEY_ORDER[order.field](a, b) || byId;
    return order.descending ? -ascending : ascending;
  };
}

const isLive = (row: RawRow): boolean => row.status !== DELETED;

/** The stored profile JSON, parsed: each engine spells it its own way (jsonb orders keys and adds spaces). */
function storedProfile(row: RawRow): unknown {
  return JSON.parse(row.data ?? "null");
}

/** A statement as SQLite spells it: PostgreSQL numbers its placeholders and returns the row it writes. */
function inSqliteSpelling(statement: string): string {
  return statement.replace(/\$\d+/g, "?").replace(/ returning .*$/s, "");
}

interface Listed {
  ids: bigint[];
  totalSizes: number[];
  pages: number;
}

async function collect(stream: AsyncIterable<Customer>): Promise<bigint[]> {
  const ids: bigint[] = [];
  for await (const customer of stream) ids.push(customer.customerId);
  return ids;
}

function profile(init: MessageInitShape<typeof CustomerProfileSchema>) {
  return create(CustomerProfileSchema, init);
}

describe.each(ENGINE_DATABASES)("customers on $name", (setup) => {
  let engine: EngineDatabase;
  let repository: Customers;

  beforeAll(async () => {
    engine = await setup.open();
    repository = customersOn(engine);
  });

  afterAll(async () => {
    await engine.dispose();
  });

  function rawRows(): Promise<RawRow[]> {
    return engine.db.selectFrom("customers").select(RAW_COLUMNS).execute();
  }

  async function rawRow(id: bigint): Promise<RawRow> {
    const row = await engine.db.selectFrom("customers").select(RAW_COLUMNS).where("CustomerId", "=", id).executeTakeFirst();
    if (row === undefined) throw new Error(`no row ${id}`);
    return row;
  }

  async function customerCount(): Promise<bigint> {
    const { total } = await engine.db
      .selectFrom("customers")
      .select((eb) => eb.fn.countAll<bigint>().as("total"))
      .executeTakeFirstOrThrow();
    return total;
  }

  /** Writes `data` as a newer build might have. */
  async function writeStoredProfile(id: bigint, json: unknown): Promise<void> {
    await engine.db.updateTable("customers").set({ data: JSON.stringify(json) }).where("CustomerId", "=", id).execute();
  }

  async function expectedIds(order: CustomerOrder, keep: (row: RawRow) => boolean): Promise<bigint[]> {
    return (await rawRows())
      .filter(keep)
      .sort(compareRows(order))
      .map((row) => row.CustomerId);
  }

  async function listAll(filter: CustomerFilter, order: CustomerOrder = BY_ID, pageSize = 7): Promise<Listed> {
    const listed: Listed = { ids: [], totalSizes: [], pages: 0 };
    let pageToken = "";
    do {
      const page = await repository.list({ filter, order, pageSize, pageToken });
      listed.ids.push(...page.customers.map((customer) => customer.customerId));
      listed.totalSizes.push(page.totalSize);
      listed.pages += 1;
      pageToken = page.nextPageToken;
      if (listed.pages > 1000) throw new Error("paging does not end");
    } while (pageToken !== "");
    return listed;
  }

  /** A repository on the same database whose Kysely records the SQL it sends. */
  function queryCountingRepository(): { repository: Customers; queries: QueryLog["queries"] } {
    const logged = engine.withQueryLog();
    return { repository: customersOn(engine, logged.db), queries: logged.queries };
  }

  describe("get", () => {
    it("reads a real Chinook customer with every field", async () => {
      const customer = await repository.get(1n);
      expect(customer).toMatchObject(CHINOOK_CUSTOMER_1);
      expect(customer.profile).toBeUndefined();
      expect(customer.createTime).toBeDefined();
      expect(customer.updateTime).toBeDefined();
      expect(customer.etag).toMatch(/^"[A-Za-z0-9_-]{16}"$/);
    });

    it("leaves NULL columns unset", async () => {
      const customer = await repository.get(2n);
      expect(customer.firstName).toBe("Leonie");
      expect(customer.company).toBeUndefined();
      expect(customer.state).toBeUndefined();
      expect(customer.fax).toBeUndefined();
      expect(customer.address).toBe("Theodor-Heuss-Straße 34");
    });

    it("is NOT_FOUND for an unknown id", async () => {
      await expect(repository.get(999_999n)).rejects.toThrow(new NotFoundError("customer 999999 not found", { reason: "CUSTOMER_NOT_FOUND" }));
    });

    it("returns the same etag for the same row and a different one for another", async () => {
      expect((await repository.get(1n)).etag).toBe((await repository.get(1n)).etag);
      expect((await repository.get(1n)).etag).not.toBe((await repository.get(2n)).etag);
    });
  });

  describe("with a row memo", () => {
    const memoized = (registry = new Registry()) =>
      customersOn(engine, engine.db, { rowMemo: new RowMemo({ maxEntries: 100, maxBytes: 2 ** 20, registry }) });

    it("maps a row read back unchanged once: the same frozen customer, on every read path", async () => {
      const registry = new Registry();
      const customers = memoized(registry);
      await customers.get(3n);
      const remembered = await customers.get(3n);
      expect(Object.isFrozen(remembered)).toBe(true);
      expect(await customers.get(3n)).toBe(remembered);
      expect((await customers.batchGet([4n, 3n]))[1]).toBe(remembered);
      const page = await customers.list({ filter: { ...LIVE, country: remembered.country }, order: BY_ID, pageSize: 50, pageToken: "" });
      expect(page.customers.find((customer) => customer.customerId === 3n)).toBe(remembered);
      expect(remembered).toEqual(await repository.get(3n));
      expect(await registryValue(registry, "customer_row_memo_hits_total")).toBe(3);
    });

    it("shows what another writer changed at once, the etag too", async () => {
      const customers = memoized();
      await customers.get(5n);
      const before = await customers.get(5n);
      await engine.db.updateTable("customers").set({ City: "Elsewhere" }).where("CustomerId", "=", 5n).execute();
      const after = await customers.get(5n);
      expect(after.city).toBe("Elsewhere");
      expect(after.etag).not.toBe(before.etag);
      expect(after).toEqual(await repository.get(5n));
    });

    it("hands writes back unfrozen, as read", async () => {
      const customers = memoized();
      await customers.get(6n);
      await customers.get(6n);
      const updated = await customers.update(6n, (current) => ({ ...current, company: "Memo Ltd" }));
      expect(Object.isFrozen(updated)).toBe(false);
      expect((await customers.get(6n)).company).toBe("Memo Ltd");
    });
  });

  describe("batchGet", () => {
    it("keeps the order asked, duplicates included", async () => {
      const customers = await repository.batchGet([3n, 1n, 3n, 2n]);
      expect(customers.map((customer) => customer.customerId)).toEqual([3n, 1n, 3n, 2n]);
      expect(customers[1]?.firstName).toBe("Luís");
    });

    it("names the first missing id in request order", async () => {
      await expect(repository.batchGet([1n, 999_001n, 2n, 999_000n])).rejects.toThrow(
        new NotFoundError("customer 999001 not found", { reason: "CUSTOMER_NOT_FOUND" }),
      );
    });

    it("returns nothing for no ids", async () => {
      await expect(repository.batchGet([])).resolves.toEqual([]);
    });
  });

  describe("create", () => {
    it("defaults the status, sets both times and ignores output-only fields", async () => {
      const before = Date.now();
      const created = await repository.create(
        newCustomer({
          customerId: 1n,
          etag: '"forged"',
          createTime: timestampFromDate(new Date("2000-01-01T00:00:00Z")),
          updateTime: timestampFromDate(new Date("2000-01-01T00:00:00Z")),
        }),
      );
      const after = Date.now();
      expect(created.customerId).toBeGreaterThan(59n);
      expect(created.status).toBe(CustomerStatus.ACTIVE);
      expect(created.createTime).toEqual(created.updateTime);
      const createdAt = timestampDate(created.createTime ?? timestampFromDate(new Date(0))).getTime();
      expect(createdAt).toBeGreaterThanOrEqual(before);
      expect(createdAt).toBeLessThanOrEqual(after);
      expect((await rawRow(created.customerId)).created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(created.etag).not.toBe('"forged"');
      expect(await repository.get(created.customerId)).toEqual(created);
    });

    it("stores unset optionals as NULL and keeps empty strings", async () => {
      const created = await repository.create(newCustomer({ company: "", country: undefined, supportRepId: 4n }));
      const row = await rawRow(created.customerId);
      expect(row.Company).toBe("");
      expect(row.Country).toBeNull();
      expect(created.company).toBe("");
      expect(created.country).toBeUndefined();
      expect(created.supportRepId).toBe(4n);
    });

    it("keeps a given status but refuses DELETED", async () => {
      const inactive = await repository.create(newCustomer({ status: CustomerStatus.SUSPENDED }));
      expect(inactive.status).toBe(CustomerStatus.SUSPENDED);
      await expect(repository.create(newCustomer({ status: CustomerStatus.DELETED }))).rejects.toMatchObject({
        kind: "invalid_argument",
        field: "customer.status",
      });
    });

    it("refuses an email a live customer has, whatever its case", async () => {
      await repository.create(newCustomer({ email: "Dup.Create@Example.test" }));
      const duplicate = repository.create(newCustomer({ email: "dup.create@example.TEST" }));
      await expect(duplicate).rejects.toThrow(new AlreadyExistsError("customer.email: already used by another customer", { reason: "EMAIL_TAKEN" }));
    });

    it.each([
      ["final and medial sigma", "νίκος.x@example.gr", "ΝΊΚΟΣ.x@example.gr"],
      ["final and medial sigma, the other way", "ΝΊΚΟΣ.y@example.gr", "νίκος.y@example.gr"],
      ["sharp s and its capital", "straße@example.de", "STRAẞE@example.de"],
      ["sharp s and its capital, the other way", "STRAẞE.y@example.de", "straße.y@example.de"],
      ["theta and its symbol form", "θ.x@example.gr", "ϑ.X@example.gr"],
    ])("refuses an email a live customer has but for the case of its %s", async (_case, first, second) => {
      await repository.create(newCustomer({ email: first }));
      const duplicate = repository.create(newCustomer({ email: second }));
      await expect(duplicate).rejects.toThrow(new AlreadyExistsError("customer.email: already used by another customer", { reason: "EMAIL_TAKEN" }));
    });

    it("allows the email of a soft-deleted customer", async () => {
      const first = await repository.create(newCustomer({ email: "reuse@example.test" }));
      await repository.softDelete(first.customerId);
      const second = await repository.create(newCustomer({ email: "REUSE@example.test" }));
      expect(second.customerId).not.toBe(first.customerId);
    });

    it("refuses an unknown support rep, naming customer.support_rep_id", async () => {
      const before = await customerCount();
      const error: unknown = await repository.create(newCustomer({ supportRepId: 999n })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error).toMatchObject({ field: "customer.support_rep_id" });
      expect(await customerCount()).toBe(before);
    });

    it.each([
      ["an ASCII email", "Taken.Rep@Example.test"],
      ["an email beyond ASCII", "ζωή.rep@example.gr"],
    ])("names an unknown support rep before a taken email, %s", async (_case, email) => {
      await repository.create(newCustomer({ email }));
      const error: unknown = await repository.create(newCustomer({ email, supportRepId: 999n })).catch((e: unknown) => e);
      expect(error).toMatchObject({ field: "customer.support_rep_id", errorReason: "SUPPORT_REP_NOT_FOUND" });
    });

    it("refuses an unknown support rep with a request_id, and records nothing under it", async () => {
      const refused = repository.create(newCustomer({ supportRepId: 999n }), "unknown-rep");
      await expect(refused).rejects.toMatchObject({ field: "customer.support_rep_id" });
      const created = await repository.create(newCustomer({ email: "rep.fixed@example.test", supportRepId: 3n }), "unknown-rep");
      expect(created.supportRepId).toBe(3n);
    });
  });

  describe("request_id idempotency", () => {
    it("returns the first result for a retry and creates one row", async () => {
      const customer = newCustomer({ email: "idempotent@example.test" });
      const requestId = "7f1d2c1e-8a8e-4c55-9b7a-1f9e6f3c2a10";
      const first = await repository.create(customer, requestId);
      const retry = await repository.create(customer, requestId);
      const retryWithOutputOnly = await repository.create({ ...customer, etag: '"whatever"' }, requestId);
      expect(retry.customerId).toBe(first.customerId);
      expect(retryWithOutputOnly.customerId).toBe(first.customerId);
      expect((await rawRows()).filter((row) => row.Email === "idempotent@example.test")).toHaveLength(1);
    });

    it("recognizes a retry whose profile.attributes arrive in another order, as protobuf allows", async () => {
      const requestId = "3c9e1f0a-6b2d-4e8f-a1c3-5d7b9f0e2a41";
      const fields = { firstName: "Ada", lastName: "Reordered", email: "reordered@example.test" };
      const customer = create(CustomerSchema, { ...fields, profile: { attributes: { alpha: "1", beta: "2", gamma: "3" } } });
      const reordered = create(CustomerSchema, { ...fields, profile: { attributes: { gamma: "3", alpha: "1", beta: "2" } } });
      expect(toBinary(CustomerSchema, reordered)).not.toEqual(toBinary(CustomerSchema, customer));

      const first = await repository.create(customer, requestId);
      const retry = await repository.create(reordered, requestId);
      expect(retry.customerId).toBe(first.customerId);
    });

    it("refuses the same request_id for a different request", async () => {
      const requestId = "0b0c9a55-2a8e-4f61-8d0f-5b6d3c2a1e00";
      await repository.create(newCustomer(), requestId);
      await expect(repository.create(newCustomer(), requestId)).rejects.toMatchObject({
        kind: "invalid_argument",
        field: "request_id",
      });
    });
  });

  describe("batchCreate", () => {
    it("creates every customer, in order", async () => {
      const customers = [newCustomer(), newCustomer(), newCustomer()];
      const created = await repository.batchCreate(customers.map((customer) => ({ customer })));
      expect(created.map((customer) => customer.email)).toEqual(customers.map((customer) => customer.email));
    });

    it("creates nothing when an item in the middle fails, and names the item", async () => {
      const before = await customerCount();
      const requests = [newCustomer(), newCustomer(), newCustomer({ supportRepId: 999n }), newCustomer()].map(
        (customer) => ({ customer }),
      );
      const error: unknown = await repository.batchCreate(requests).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error).toMatchObject({ field: "requests[2].customer.support_rep_id" });
      expect((error as Error).message).toBe("requests[2].customer.support_rep_id: employee 999 does not exist");
      expect(await customerCount()).toBe(before);
    });

    it("returns for each item exactly what a later read returns, profile and etag included", async () => {
      const requests = [
        newCustomer({ profile: profile({ loyaltyTier: LoyaltyTier.PLATINUM, tags: ["x", "y"], attributes: { a: "b" } }) }),
        newCustomer({ company: "", supportRepId: 5n, status: CustomerStatus.INACTIVE }),
        newCustomer({ email: `wójcik.${serial}@example.test` }),
      ].map((customer) => ({ customer }));
      const created = await repository.batchCreate(requests);
      expect(await repository.batchGet(created.map((customer) => customer.customerId))).toEqual(created);
    });

    it("inserts each customer once and never reads a created row back", async () => {
      const { repository: counting, queries } = queryCountingRepository();
      const requests = [3n, 4n, 3n, undefined, 5n].map((supportRepId) => ({ customer: newCustomer({ supportRepId }) }));
      await counting.batchCreate(requests);
      const kinds = queries.map((query) => query.sql.split(" ")[0]?.toLowerCase());
      expect(queries.filter((query) => /^select\b[\s\S]*\bfrom "customers"/i.test(query.sql))).toEqual([]);
      expect(kinds.filter((kind) => kind === "insert")).toHaveLength(requests.length);
    });

    it("checks a non-ASCII email against case variants, earlier items of the batch included", async () => {
      const requests = [
        { customer: newCustomer({ email: "łukasz.batch@example.test" }) },
        { customer: newCustomer({ email: "ŁUKASZ.BATCH@example.test" }) },
      ];
      await expect(repository.batchCreate(requests)).rejects.toThrow(
        new AlreadyExistsError("requests[1].customer.email: already used by another customer", { reason: "EMAIL_TAKEN" }),
      );
    });

    it("stamps created_at and updated_at from the repository's clock, once per customer", async () => {
      const times = [new Date("2015-03-04T05:06:07.089Z"), new Date("2016-01-02T03:04:05.006Z")];
      const clock = () => times.shift() ?? new Date(0);
      const created = await customersOn(engine, engine.db, { clock }).batchCreate([
        { customer: newCustomer() },
        { customer: newCustomer() },
      ]);
      const rows = await Promise.all(created.map((customer) => rawRow(customer.customerId)));
      expect(rows.map((row) => row.created_at)).toEqual([
        "2015-03-04T05:06:07.089Z",
        "2016-01-02T03:04:05.006Z",
      ]);
      expect(rows.map((row) => row.updated_at)).toEqual([
        "2015-03-04T05:06:07.089Z",
        "2016-01-02T03:04:05.006Z",
      ]);
    });

    it("names the item whose email is taken, keeping ALREADY_EXISTS", async () => {
      const before = await customerCount();
      const requests = [
        { customer: newCustomer({ email: "batch.dup@example.test" }) },
        { customer: newCustomer({ email: "BATCH.DUP@example.test" }) },
      ];
      await expect(repository.batchCreate(requests)).rejects.toThrow(
        new AlreadyExistsError("requests[1].customer.email: already used by another customer", { reason: "EMAIL_TAKEN" }),
      );
      expect(await customerCount()).toBe(before);
    });
  });

  describe("update", () => {
    it("sets only the columns that changed, and returns what a later read returns", async () => {
      const created = await repository.create(newCustomer({ city: "Before", profile: profile({ tags: ["a"] }) }));
      const { repository: counting, queries } = queryCountingRepository();
      const updated = await counting.update(created.customerId, (current) => ({ ...current, city: "After" }));
      const [write] = queries.filter((query) => /^update/i.test(query.sql));
      expect(inSqliteSpelling(write?.sql ?? "")).toBe('update "customers" set "City" = ?, "updated_at" = ? where "CustomerId" = ?');
      expect(updated.city).toBe("After");
      expect(await repository.get(created.customerId)).toEqual(updated);
      const deleted = await repository.softDelete(created.customerId);
      expect(await repository.get(created.customerId)).toEqual(deleted);
      const undeleted = await repository.undelete(created.customerId);
      expect(await repository.get(created.customerId)).toEqual(undeleted);
    });

    it("applies the change when the etag is fresh, in any accepted form", async () => {
      const created = await repository.create(newCustomer({ company: "Before" }));
      const renamed = await repository.update(created.customerId, (c) => ({ ...c, firstName: "Renamed" }), created.etag);
      expect(renamed.firstName).toBe("Renamed");
      expect(renamed.etag).not.toBe(created.etag);
      expect(renamed.createTime).toEqual(created.createTime);
      const row = await rawRow(created.customerId);
      expect(row.updated_at >= row.created_at).toBe(true);
      const weak = await repository.update(renamed.customerId, (c) => ({ ...c, city: "Weak" }), `W/${renamed.etag}`);
      expect(weak.city).toBe("Weak");
      const unquoted = weak.etag.replace(/"/g, "");
      const bare = await repository.update(weak.customerId, (c) => ({ ...c, city: "Bare" }), unquoted);
      expect(bare.city).toBe("Bare");
      await expect(
        repository.update(created.customerId, (c) => ({ ...c, city: "Stale" }), unquoted),
      ).rejects.toBeInstanceOf(FailedPreconditionError);
    });

    it("is FAILED_PRECONDITION with a stale etag and changes nothing", async () => {
      const created = await repository.create(newCustomer());
      await repository.update(created.customerId, (c) => ({ ...c, city: "First" }));
      const stale = repository.update(created.customerId, (c) => ({ ...c, city: "Second" }), created.etag);
      await expect(stale).rejects.toThrow(/^customer\.etag: .*changed since it was read$/);
      expect((await repository.get(created.customerId)).city).toBe("First");
    });

    it("writes every column: unset clears to NULL, empty string stays", async () => {
      const created = await repository.create(newCustomer({ company: "Acme", phone: "123", supportRepId: 3n }));
      const updated = await repository.update(created.customerId, (c) => ({
        ...c,
        company: "",
        phone: undefined,
        supportRepId: undefined,
        status: CustomerStatus.INACTIVE,
      }));
      expect(updated).toMatchObject({ company: "", status: CustomerStatus.INACTIVE });
      expect(updated.phone).toBeUndefined();
      expect(updated.supportRepId).toBeUndefined();
      const row = await rawRow(created.customerId);
      expect(row.Company).toBe("");
      expect(row.SupportRepId).toBeNull();
    });

    it("ignores output-only fields the change returns", async () => {
      const created = await repository.create(newCustomer());
      const updated = await repository.update(created.customerId, (c) => ({
        ...c,
        customerId: 1n,
        createTime: timestampFromDate(new Date("2000-01-01T00:00:00Z")),
      }));
      expect(updated.customerId).toBe(created.customerId);
      expect(updated.createTime).toEqual(created.createTime);
    });

    it("refuses a taken email, an unknown support rep and the DELETED status", async () => {
      const taken = await repository.create(newCustomer({ email: "taken.update@example.test" }));
      const created = await repository.create(newCustomer());
      await expect(
        repository.update(created.customerId, (c) => ({ ...c, email: "TAKEN.update@example.test" })),
      ).rejects.toThrow(new AlreadyExistsError("customer.email: already used by another customer", { reason: "EMAIL_TAKEN" }));
      await expect(repository.update(created.customerId, (c) => ({ ...c, supportRepId: 999n }))).rejects.toMatchObject({
        field: "customer.support_rep_id",
      });
      await expect(
        repository.update(created.customerId, (c) => ({ ...c, status: CustomerStatus.DELETED })),
      ).rejects.toMatchObject({ kind: "invalid_argument", field: "customer.status" });
      expect((await repository.get(created.customerId)).email).toBe(created.email);
      expect(taken.status).toBe(CustomerStatus.ACTIVE);
    });

    it("writes nothing for an update that changes nothing: the etag and update_time stay", async () => {
      const created = await repository.create(newCustomer({ profile: profile({ tags: ["same"] }) }));
      const before = await rawRow(created.customerId);

      const unchanged = await repository.update(created.customerId, (c) => ({ ...c, firstName: c.firstName }));

      expect(unchanged.etag).toBe(created.etag);
      expect(unchanged.updateTime).toEqual(created.updateTime);
      expect(await rawRow(created.customerId)).toEqual(before);
    });

    it("is NOT_FOUND for an unknown id and FAILED_PRECONDITION for a deleted customer", async () => {
      await expect(repository.update(999_999n, (c) => c)).rejects.toBeInstanceOf(NotFoundError);
      const created = await repository.create(newCustomer());
      await repository.softDelete(created.customerId);
      await expect(repository.update(created.customerId, (c) => ({ ...c, city: "X" }))).rejects.toBeInstanceOf(
        FailedPreconditionError,
      );
    });
  });

  describe("softDelete and undelete", () => {
    it("hides a deleted customer from lists unless asked, keeping its invoices", async () => {
      const created = await repository.create(newCustomer({ country: "Deletia" }));
      await engine.db
        .insertInto("invoices")
        .values({ CustomerId: created.customerId, InvoiceDate: "2024-01-01 00:00:00", Total: 1.98 })
        .execute();
      const deleted = await repository.softDelete(created.customerId, created.etag);
      expect(deleted.status).toBe(CustomerStatus.DELETED);
      expect(deleted.updateTime).toBeDefined();
      expect((await repository.get(created.customerId)).status).toBe(CustomerStatus.DELETED);
      expect((await listAll({ country: "Deletia", showDeleted: false })).ids).toEqual([]);
      expect((await listAll({ country: "Deletia", showDeleted: true })).ids).toEqual([created.customerId]);
      const onlyDeleted = await listAll({ country: "Deletia", status: CustomerStatus.DELETED, showDeleted: false });
      expect(onlyDeleted.ids).toEqual([created.customerId]);
      const invoices = await engine.db
        .selectFrom("invoices")
        .select((eb) => eb.fn.countAll<bigint>().as("n"))
        .where("CustomerId", "=", created.customerId)
        .executeTakeFirstOrThrow();
      expect(invoices.n).toBe(1n);
    });

    it("refuses to delete twice or with a stale etag", async () => {
      const created = await repository.create(newCustomer());
      await repository.update(created.customerId, (c) => ({ ...c, city: "Moved" }));
      await expect(repository.softDelete(created.customerId, created.etag)).rejects.toBeInstanceOf(
        FailedPreconditionError,
      );
      await repository.softDelete(created.customerId);
      await expect(repository.softDelete(created.customerId)).rejects.toThrow(
        new NotFoundError(`customer ${created.customerId} is already deleted`, { reason: "CUSTOMER_ALREADY_DELETED" }),
      );
      await expect(repository.softDelete(999_999n)).rejects.toBeInstanceOf(NotFoundError);
    });

    it("undeletes to ACTIVE, only from DELETED", async () => {
      const created = await repository.create(newCustomer({ status: CustomerStatus.INACTIVE }));
      await expect(repository.undelete(created.customerId)).rejects.toThrow(
        new AlreadyExistsError(`customer ${created.customerId} is not deleted`, { reason: "CUSTOMER_NOT_DELETED" }),
      );
      await repository.softDelete(created.customerId);
      const restored = await repository.undelete(created.customerId);
      expect(restored.status).toBe(CustomerStatus.ACTIVE);
    });

    it("refuses to undelete when a live customer took the email meanwhile", async () => {
      const original = await repository.create(newCustomer({ email: "comeback@example.test" }));
      await repository.softDelete(original.customerId);
      await repository.create(newCustomer({ email: "Comeback@Example.test" }));
      await expect(repository.undelete(original.customerId)).rejects.toThrow(
        new AlreadyExistsError("customer.email: already used by another customer", { reason: "EMAIL_TAKEN" }),
      );
      expect((await repository.get(original.customerId)).status).toBe(CustomerStatus.DELETED);
    });
  });

  describe("list of large customers", () => {
    it("cuts a page at MAX_PAGE_BYTES, so a default client can read it, and the next page goes on from there", async () => {
      // The largest profile validation allows, in ASCII: ~100 kB of attributes.
      const attributes = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`key${i}`, "v".repeat(1024)]));
      const requests = Array.from({ length: 25 }, () => ({
        customer: newCustomer({ country: "Bigland", profile: profile({ attributes }) }),
      }));
      const created = (await repository.batchCreate(requests)).map((customer) => customer.customerId);
      const filter: CustomerFilter = { country: "Bigland", showDeleted: false };

      const pages: Customer[][] = [];
      let pageToken = "";
      do {
        const page = await repository.list({ filter, order: BY_ID, pageSize: 50, pageToken });
        expect(toBinary(ListCustomersResponseSchema, create(ListCustomersResponseSchema, page)).length).toBeLessThan(4 * 2 ** 20);
        pages.push(page.customers);
        pageToken = page.nextPageToken;
      } while (pageToken !== "");

      expect(pages.length).toBeGreaterThan(1);
      expect(pages.flat().map((customer) => customer.customerId)).toEqual(created);
      const bound = pages[0]?.reduce((bytes, customer) => bytes + customerSizeBound(customer), 0) ?? 0;
      expect(bound).toBeLessThanOrEqual(MAX_PAGE_BYTES);
    });
  });

  describe("list", () => {
    beforeAll(async () => {
      // Ties under NOCASE, NULL and empty countries, non-ASCII names, a deleted row and distinct update times.
      const names = ["zeta", "Zeta", "ZETA", "Ångström", "émile", "_under", "%percent"];
      for (const [index, lastName] of names.entries()) {
        await repository.create(newCustomer({ lastName, email: `Order${index}@Example.test` }));
      }
      await repository.create(newCustomer({ country: undefined, lastName: "NullLand" }));
      await repository.create(newCustomer({ country: undefined, lastName: "nullland" }));
      await repository.create(newCustomer({ country: "" }));
      const toDelete = await repository.create(newCustomer({ country: "USA", email: "order.deleted@example.test" }));
      await repository.softDelete(toDelete.customerId);
      await repository.create(newCustomer({ country: "USA", email: "ORDER.deleted@example.test" }));
      await repository.update(5n, (c) => ({ ...c, city: "Touched" }));
      await repository.update(17n, (c) => ({ ...c, city: "Touched" }));
    });

    it.each(EVERY_ORDER)("pages through every live customer in order %j without dupes or gaps", async (order) => {
      const listed = await listAll(LIVE, order, 7);
      const expected = await expectedIds(order, isLive);
      expect(listed.ids).toEqual(expected);
      expect(new Set(listed.ids).size).toBe(listed.ids.length);
      expect(listed.totalSizes.every((total) => total === expected.length)).toBe(true);
      expect(listed.pages).toBe(Math.ceil(expected.length / 7));
    });

    it.each(EVERY_ORDER)("pages as ids exactly as it pages customers, token for token, in order %j", async (order) => {
      for (const filter of [LIVE, { showDeleted: true }, { namePrefix: "l", showDeleted: false }]) {
        let pageToken = "";
        do {
          const query = { filter, order, pageSize: 6, pageToken };
          const [page, ids] = [await repository.list(query), await repository.listIds(query)];
          expect(ids).toEqual({
            customerIds: page.customers.map((customer) => customer.customerId),
            nextPageToken: page.nextPageToken,
            totalSize: page.totalSize,
            tokenAfter: expect.any(Function),
          });
          // The token after a whole page is the next page's: a caller that keeps fewer continues the same way.
          if (page.nextPageToken !== "") expect(ids.tokenAfter(ids.customerIds.length)).toBe(page.nextPageToken);
          pageToken = page.nextPageToken;
        } while (pageToken !== "");
      }
    });

    it.each(EVERY_ORDER)("orders deleted customers too when asked, %j", async (order) => {
      const listed = await listAll({ showDeleted: true }, order, 11);
      expect(listed.ids).toEqual(await expectedIds(order, () => true));
    });

    it("returns no token on an exactly full last page", async () => {
      const expected = await expectedIds(BY_ID, (row) => isLive(row) && row.Country === "Brazil");
      const page = await repository.list({
        filter: { country: "Brazil", showDeleted: false },
        order: BY_ID,
        pageSize: expected.length,
        pageToken: "",
      });
      expect(page.customers).toHaveLength(expected.length);
      expect(page.nextPageToken).toBe("");
    });

    it.each([
      { field: "last_name", descending: false },
      { field: "country", descending: true },
      { field: "country", descending: false },
      { field: "customer_id", descending: true },
    ] satisfies CustomerOrder[])("stays correct when customers are inserted between pages, %j", async (order) => {
      const before = new Set(await expectedIds(order, isLive));
      const seen: bigint[] = [];
      let pageToken = "";
      let round = 0;
      do {
        const page = await repository.list({ filter: LIVE, order, pageSize: 6, pageToken });
        seen.push(...page.customers.map((customer) => customer.customerId));
        pageToken = page.nextPageToken;
        round += 1;
        // New rows land before and after the cursor, including NULL countries.
        await repository.create(newCustomer({ lastName: `AAA${round}`, country: undefined }));
        await repository.create(newCustomer({ lastName: `zzz${round}`, country: "Zimbabwe" }));
        await repository.create(newCustomer({ lastName: `Mmm${round}`, country: "Germany" }));
      } while (pageToken !== "");
      expect(new Set(seen).size).toBe(seen.length);
      expect([...before].filter((id) => !seen.includes(id))).toEqual([]);
      const rowsById = new Map((await rawRows()).map((row) => [row.CustomerId, row]));
      const seenRows = seen.map((id) => rowsById.get(id)).filter((row): row is RawRow => row !== undefined);
      const inOrder = [...seenRows].sort(compareRows(order));
      expect(seenRows.map((row) => row.CustomerId)).toEqual(inOrder.map((row) => row.CustomerId));
    });

    it("binds a page token to its filters and order", async () => {
      const usa: CustomerFilter = { country: "USA", showDeleted: false };
      const page = await repository.list({ filter: usa, order: BY_ID, pageSize: 2, pageToken: "" });
      expect(page.nextPageToken).not.toBe("");
      const otherFilter = repository.list({
        filter: { country: "Canada", showDeleted: false },
        order: BY_ID,
        pageSize: 2,
        pageToken: page.nextPageToken,
      });
      await expect(otherFilter).rejects.toMatchObject({ kind: "invalid_argument", field: "page_token" });
      const otherOrder = repository.list({
        filter: usa,
        order: { field: "customer_id", descending: true },
        pageSize: 2,
        pageToken: page.nextPageToken,
      });
      await expect(otherOrder).rejects.toMatchObject({ kind: "invalid_argument", field: "page_token" });
      const showingDeleted = repository.list({
        filter: { ...usa, showDeleted: true },
        order: BY_ID,
        pageSize: 2,
        pageToken: page.nextPageToken,
      });
      await expect(showingDeleted).rejects.toMatchObject({ field: "page_token" });
      const sameAgain = await repository.list({
        filter: { ...usa },
        order: BY_ID,
        pageSize: 3,
        pageToken: page.nextPageToken,
      });
      expect(sameAgain.customers[0]?.customerId).toBeGreaterThan(page.customers[1]?.customerId ?? 0n);
    });

    it.each(["garbage", "eyJ2IjoxfQ", "!!!"])("refuses the token %j", async (pageToken) => {
      await expect(repository.list({ filter: LIVE, order: BY_ID, pageSize: 5, pageToken })).rejects.toMatchObject({
        kind: "invalid_argument",
        field: "page_token",
      });
    });

    it.each([2n ** 63n, -(2n ** 63n) - 1n])("refuses a token whose cursor id %s is past 64-bit integers", async (id) => {
      const forged = encodePageToken(pagingBinding(LIVE, BY_ID), [null, id]);
      await expect(repository.list({ filter: LIVE, order: BY_ID, pageSize: 5, pageToken: forged })).rejects.toMatchObject({
        kind: "invalid_argument",
        field: "page_token",
      });
    });

    it("refuses a well-formed token whose cursor does not fit the order", async () => {
      const order: CustomerOrder = { field: "last_name", descending: false };
      const forged = encodePageToken(pagingBinding(LIVE, order), [null, 5n]);
      await expect(repository.list({ filter: LIVE, order, pageSize: 5, pageToken: forged })).rejects.toMatchObject({
        field: "page_token",
      });
    });
  });

  describe("filters", () => {
    let gold: Customer;
    let silver: Customer;
    let tagged: Customer;
    let inactive: Customer;
    let startOfFixtures: Date;

    beforeAll(async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      startOfFixtures = new Date();
      const goldProfile = profile({ loyaltyTier: LoyaltyTier.GOLD, tags: ["vip", "beta"] });
      gold = await repository.create(newCustomer({ country: "Filterland", profile: goldProfile }));
      const silverProfile = profile({ loyaltyTier: LoyaltyTier.SILVER, tags: ["beta"] });
      silver = await repository.create(newCustomer({ country: "Filterland", profile: silverProfile }));
      tagged = await repository.create(newCustomer({ country: "Filterland", profile: profile({ tags: ["vip"] }) }));
      inactive = await repository.create(newCustomer({ country: "Filterland", status: CustomerStatus.INACTIVE }));
      await repository.create(newCustomer({ firstName: "100%_Sure", lastName: "Escaper" }));
      await repository.create(newCustomer({ firstName: "100xxSure", lastName: "Escaper" }));
      await repository.create(newCustomer({ firstName: "Back\\slash", lastName: "Escaper" }));
    });

    async function idsMatching(filter: CustomerFilter): Promise<bigint[]> {
      const listed = await listAll(filter, BY_ID, 4);
      expect(new Set(listed.totalSizes)).toEqual(new Set([listed.ids.length]));
      expect(await collect(repository.stream(filter, 3))).toEqual(listed.ids);
      return listed.ids;
    }

    it("country", async () => {
      expect(await idsMatching({ country: "Brazil", showDeleted: false })).toEqual(
        await expectedIds(BY_ID, (row) => isLive(row) && row.Country === "Brazil"),
      );
    });

    it("status", async () => {
      const ids = await idsMatching({ status: CustomerStatus.INACTIVE, showDeleted: false });
      expect(ids).toContain(inactive.customerId);
      expect(ids).toEqual(await expectedIds(BY_ID, (row) => row.status === BigInt(CustomerStatus.INACTIVE)));
      const any = await idsMatching({ status: CustomerStatus.UNSPECIFIED, country: "Filterland", showDeleted: false });
      expect(any).toEqual([gold.customerId, silver.customerId, tagged.customerId, inactive.customerId]);
    });

    it("email, exact and case-insensitive", async () => {
      expect(await idsMatching({ email: "LUISG@Embraer.com.br", showDeleted: false })).toEqual([1n]);
      expect(await idsMatching({ email: "luisg@embraer.com", showDeleted: false })).toEqual([]);
    });

    it("name prefix on first or last name, case-insensitive", async () => {
      const ids = await idsMatching({ namePrefix: "lu", showDeleted: false });
      const expected = await expectedIds(
        BY_ID,
        (row) => isLive(row) && [row.FirstName, row.LastName].some((name) => asciiLower(name).startsWith("lu")),
      );
      expect(ids).toEqual(expected);
      expect(ids).toContain(1n);
      expect(await idsMatching({ namePrefix: "gONç", showDeleted: false })).toEqual([1n]);
      // ASCII letters fold; other letters are matched by their case class (case-insensitive.ts).
      expect(await idsMatching({ namePrefix: "GONÇ", showDeleted: false })).toEqual([1n]);
      expect(await idsMatching({ namePrefix: "LUÍS", showDeleted: false })).toEqual([1n]);
      expect(await idsMatching({ namePrefix: "Luiz", showDeleted: false })).toEqual([]);
    });

    it.each(EVERY_ORDER)("name prefix in order %j: the same customers, sorted as an independent sort", async (order) => {
      const listed = await listAll({ namePrefix: "t", showDeleted: false }, order, 3);
      const startsWithT = (name: string) => asciiLower(name).startsWith("t");
      expect(listed.ids).toEqual(await expectedIds(order, (row) => isLive(row) && [row.FirstName, row.LastName].some(startsWithT)));
    });

    it("name prefix treats %, _ and \\ literally", async () => {
      const firstNames = async (namePrefix: string): Promise<string[]> =>
        (await repository.batchGet(await idsMatching({ namePrefix, showDeleted: false }))).map((c) => c.firstName);
      expect(await firstNames("100%")).toEqual(["100%_Sure"]);
      expect(await firstNames("100%_")).toEqual(["100%_Sure"]);
      expect(await firstNames("100_")).toEqual([]);
      expect(await firstNames("Back\\")).toEqual(["Back\\slash"]);
      expect(await firstNames("100")).toEqual(["100%_Sure", "100xxSure"]);
    });

    it("support rep", async () => {
      expect(await idsMatching({ supportRepId: 3n, showDeleted: false })).toEqual(
        await expectedIds(BY_ID, (row) => isLive(row) && row.SupportRepId === 3n),
      );
    });

    it("loyalty tier, read from the JSON profile", async () => {
      expect(storedProfile(await rawRow(gold.customerId))).toMatchObject({ loyaltyTier: "LOYALTY_TIER_GOLD" });
      expect(await idsMatching({ loyaltyTier: LoyaltyTier.GOLD, showDeleted: false })).toEqual([gold.customerId]);
      expect(await idsMatching({ loyaltyTier: LoyaltyTier.SILVER, showDeleted: false })).toEqual([silver.customerId]);
      const anyTier = await idsMatching({ loyaltyTier: LoyaltyTier.UNSPECIFIED, country: "Filterland", showDeleted: false });
      expect(anyTier).toHaveLength(4);
    });

    it("tag, following updates of the profile's tags", async () => {
      expect(await idsMatching({ tag: "vip", showDeleted: false })).toEqual([gold.customerId, tagged.customerId]);
      expect(await idsMatching({ tag: "beta", showDeleted: false })).toEqual([gold.customerId, silver.customerId]);
      await repository.update(tagged.customerId, (c) => ({ ...c, profile: profile({ tags: ["beta", "new"] }) }));
      expect(await indexedTags(engine, tagged.customerId)).toEqual(["beta", "new"]);
      expect(await idsMatching({ tag: "vip", showDeleted: false })).toEqual([gold.customerId]);
      expect(await idsMatching({ tag: "new", showDeleted: false })).toEqual([tagged.customerId]);
      await repository.update(tagged.customerId, (c) => ({ ...c, profile: undefined }));
      expect(await indexedTags(engine, tagged.customerId)).toEqual([]);
    });

    it("created after (inclusive) and before (exclusive)", async () => {
      const goldCreated = timestampDate(gold.createTime ?? timestampFromDate(new Date(0)));
      const after = await idsMatching({ createdAfter: goldCreated, country: "Filterland", showDeleted: false });
      expect(after).toContain(gold.customerId);
      const before = await idsMatching({ createdBefore: goldCreated, country: "Filterland", showDeleted: false });
      expect(before).not.toContain(gold.customerId);
      expect(await idsMatching({ createdBefore: startOfFixtures, showDeleted: false })).toEqual(
        await expectedIds(BY_ID, (row) => isLive(row) && row.created_at < startOfFixtures.toISOString()),
      );
      expect(await idsMatching({ createdAfter: startOfFixtures, showDeleted: false })).toEqual(
        await expectedIds(BY_ID, (row) => isLive(row) && row.created_at >= startOfFixtures.toISOString()),
      );
    });

    it("ANDs every filter", async () => {
      const filter: CustomerFilter = {
        country: "Filterland",
        status: CustomerStatus.ACTIVE,
        namePrefix: "test",
        loyaltyTier: LoyaltyTier.GOLD,
        tag: "beta",
        createdAfter: startOfFixtures,
        createdBefore: new Date(Date.now() + 60_000),
        email: gold.email.toUpperCase(),
        showDeleted: false,
      };
      expect(await idsMatching(filter)).toEqual([gold.customerId]);
      expect(await idsMatching({ ...filter, supportRepId: 3n })).toEqual([]);
    });

    it("streams every live customer in id order, in batches", async () => {
      expect(await collect(repository.stream(LIVE, 5))).toEqual(await expectedIds(BY_ID, isLive));
      expect(await collect(repository.stream({ showDeleted: true }))).toEqual(await expectedIds(BY_ID, () => true));
    });
  });

  describe("profile JSON", () => {
    it("round-trips a profile through its proto3 JSON", async () => {
      const written = profile({
        loyaltyTier: LoyaltyTier.PLATINUM,
        tags: ["a", "b"],
        favoriteGenreIds: [1n, 9_007_199_254_740_993n],
        marketingOptIn: true,
        attributes: { source: "import" },
        notes: "",
        lastContactTime: timestampFromDate(new Date("2024-05-06T07:08:09.123Z")),
      });
      const created = await repository.create(newCustomer({ profile: written }));
      expect(created.profile).toEqual(written);
      expect(storedProfile(await rawRow(created.customerId))).toMatchObject({
        loyaltyTier: "LOYALTY_TIER_PLATINUM",
        favoriteGenreIds: ["1", "9007199254740993"],
      });
    });

    it("stores NULL for an absent profile", async () => {
      const created = await repository.create(newCustomer());
      expect((await rawRow(created.customerId)).data).toBeNull();
      expect(created.profile).toBeUndefined();
    });

    it("reads fields a newer build wrote and keeps them across updates", async () => {
      const created = await repository.create(newCustomer());
      const future = {
        loyaltyTier: "LOYALTY_TIER_GOLD",
        tags: ["old"],
        futureField: { nested: [1, 2] },
        future_flag: true,
      };
      await writeStoredProfile(created.customerId, future);
      const read = await repository.get(created.customerId);
      expect(read.profile?.loyaltyTier).toBe(LoyaltyTier.GOLD);
      expect(read.profile?.tags).toEqual(["old"]);

      await repository.update(created.customerId, (c) => ({ ...c, firstName: "Kept" }));
      expect(storedProfile(await rawRow(created.customerId))).toEqual(future);

      await repository.update(created.customerId, (c) => ({
        ...c,
        profile: profile({ loyaltyTier: LoyaltyTier.BRONZE, tags: ["new"] }),
      }));
      expect(storedProfile(await rawRow(created.customerId))).toEqual({
        loyaltyTier: "LOYALTY_TIER_BRONZE",
        tags: ["new"],
        futureField: { nested: [1, 2] },
        future_flag: true,
      });
      expect(await indexedTags(engine, created.customerId)).toEqual(["new"]);
    });

    it("keeps a profile a newer build wrote, values this build cannot read included, across other changes", async () => {
      const created = await repository.create(newCustomer());
      const future = { loyaltyTier: "LOYALTY_TIER_DIAMOND", tags: ["vip"] };
      await writeStoredProfile(created.customerId, future);

      await repository.update(created.customerId, (c) => ({ ...c, city: "Elsewhere" }));

      expect(storedProfile(await rawRow(created.customerId))).toEqual(future);
    });

    it("treats a known field under its proto name as known, not as an unknown key to keep", async () => {
      const created = await repository.create(newCustomer());
      await writeStoredProfile(created.customerId, { loyalty_tier: "LOYALTY_TIER_SILVER" });
      expect((await repository.get(created.customerId)).profile?.loyaltyTier).toBe(LoyaltyTier.SILVER);
      await repository.update(created.customerId, (c) => ({ ...c, profile: profile({ loyaltyTier: LoyaltyTier.GOLD }) }));
      expect(storedProfile(await rawRow(created.customerId))).toEqual({ loyaltyTier: "LOYALTY_TIER_GOLD" });
    });
  });

  describe("total_size", () => {
    it("is counted by the first page and carried to later ones", async () => {
      const filter: CustomerFilter = { country: "Carryland", showDeleted: false };
      for (let index = 0; index < 3; index++) await repository.create(newCustomer({ country: "Carryland" }));
      const first = await repository.list({ filter, order: BY_ID, pageSize: 2, pageToken: "" });
      expect(first.totalSize).toBe(3);
      await repository.create(newCustomer({ country: "Carryland" }));
      const second = await repository.list({ filter, order: BY_ID, pageSize: 2, pageToken: first.nextPageToken });
      expect(second.totalSize).toBe(3);
      const again = await repository.list({ filter, order: BY_ID, pageSize: 2, pageToken: "" });
      expect(again.totalSize).toBe(4);
    });

    it("is estimated from how the first matches spread over the ids past EXACT_COUNT_LIMIT", async () => {
      const scratch = await setup.open();
      try {
        const countries = ["Evenland", "Oddland", "Thirdland"];
        const requests = Array.from({ length: 3 * EXACT_COUNT_LIMIT + 300 }, (_, index) => ({
          customer: newCustomer({ country: countries[index % countries.length] }),
        }));
        await customersOn(scratch).batchCreate(requests);
        const list = (country: string) =>
          customersOn(scratch).list({
            filter: { country, showDeleted: false },
            order: BY_ID,
            pageSize: 1,
            pageToken: "",
          });
        const { totalSize } = await list("Evenland");
        expect(totalSize).toBeGreaterThan(EXACT_COUNT_LIMIT);
        expect(Math.abs(totalSize - (EXACT_COUNT_LIMIT + 100)) / (EXACT_COUNT_LIMIT + 100)).toBeLessThan(0.1);
        expect((await list("Brazil")).totalSize).toBe(5);
      } finally {
        await scratch.dispose();
      }
    });

    it("reports an estimate again for ESTIMATE_TTL_MS instead of counting; an exact total never", async () => {
      const scratch = await setup.open();
      try {
        // Not 0: lru-cache takes an entry stored at time 0 for one without a TTL.
        let now = 1000;
        const customers = customersOn(scratch, scratch.db, { perf: { now: () => now } });
        const estimateland = (count: number) =>
          customers.batchCreate(Array.from({ length: count }, () => ({ customer: newCustomer({ country: "Estimateland" }) })));
        const firstPage = async (country: string, api: Pick<Customers, "list" | "listIds"> = customers) => {
          const query = { filter: { country, showDeleted: false }, order: BY_ID, pageSize: 1, pageToken: "" };
          const [page, ids] = await Promise.all([api.list(query), api.listIds(query)]);
          expect(ids.totalSize).toBe(page.totalSize);
          return page.totalSize;
        };
        await estimateland(EXACT_COUNT_LIMIT + 100);
        const estimated = await firstPage("Estimateland");
        expect(estimated).toBeGreaterThan(EXACT_COUNT_LIMIT);
        await estimateland(2 * EXACT_COUNT_LIMIT);
        const recounted = await firstPage("Estimateland", customersOn(scratch));
        expect(recounted).toBeGreaterThan(estimated);
        now += ESTIMATE_TTL_MS - 1;
        expect(await firstPage("Estimateland")).toBe(estimated);
        now += 2;
        expect(await firstPage("Estimateland")).toBe(recounted);

        expect(await firstPage("Brazil")).toBe(5);
        await customers.create(newCustomer({ country: "Brazil" }));
        expect(await firstPage("Brazil")).toBe(6);
      } finally {
        await scratch.dispose();
      }
    });

    it("is estimated along creation times for a creation-time window, whatever the ids before it", async () => {
      const scratch = await setup.open();
      try {
        // One customer a minute from 2030 on, after the 59 of Chinook (created when the database was migrated).
        let minute = 0;
        const clock = () => new Date(Date.UTC(2030, 0, 1) + 60_000 * minute++);
        const requests = Array.from({ length: 2 * EXACT_COUNT_LIMIT }, () => ({ customer: newCustomer() }));
        await customersOn(scratch, scratch.db, { clock }).batchCreate(requests);
        const { totalSize } = await customersOn(scratch).list({
          filter: { createdAfter: new Date(Date.UTC(2030, 0, 1) + 60_000 * EXACT_COUNT_LIMIT), showDeleted: false },
          order: BY_ID,
          pageSize: 1,
          pageToken: "",
        });
        expect(totalSize).toBe(EXACT_COUNT_LIMIT);
        const everyone = await customersOn(scratch).list({
          filter: { createdAfter: new Date(Date.UTC(2029, 0, 1)), showDeleted: false },
          order: BY_ID,
          pageSize: 1,
          pageToken: "",
        });
        expect(everyone.totalSize).toBe(2 * EXACT_COUNT_LIMIT);
      } finally {
        await scratch.dispose();
      }
    });

    it("is estimated along ids for a creation-time window whose customers share one creation time", async () => {
      const scratch = await setup.open();
      try {
        const importTime = new Date(Date.UTC(2030, 0, 1));
        const count = 2 * EXACT_COUNT_LIMIT + 500;
        const requests = Array.from({ length: count }, () => ({ customer: newCustomer({ country: "Importland" }) }));
        await customersOn(scratch, scratch.db, { clock: () => importTime }).batchCreate(requests);
        const { totalSize } = await customersOn(scratch).list({
          filter: { country: "Importland", createdAfter: new Date(Date.UTC(2029, 0, 1)), showDeleted: false },
          order: BY_ID,
          pageSize: 1,
          pageToken: "",
        });
        expect(totalSize).toBe(count);
      } finally {
        await scratch.dispose();
      }
    });
  });

  describe("transactions", () => {
    it("rolls back a create when the caller's transaction fails", async () => {
      const before = await customerCount();
      const customer = newCustomer({ email: "rolled.back@example.test" });
      await expect(
        engine.db.transaction().execute(async (tx) => {
          await customersOn(engine, tx).create(customer, "4c0a7d62-0d4f-4d8e-a0b5-6c3f2e1d0a99");
          throw new Error("boom");
        }),
      ).rejects.toThrow("boom");
      expect(await customerCount()).toBe(before);
      expect((await rawRows()).some((row) => row.Email === customer.email)).toBe(false);
      // The request id rolled back with the customer, so a retry really creates it.
      const retried = await repository.create(customer, "4c0a7d62-0d4f-4d8e-a0b5-6c3f2e1d0a99");
      expect(retried.email).toBe(customer.email);
    });
  });
});

describe("parseOrderBy", () => {
  it.each([
    ["", { field: "customer_id", descending: false }],
    ["   ", { field: "customer_id", descending: false }],
    ["last_name", { field: "last_name", descending: false }],
    ["  email   DESC ", { field: "email", descending: true }],
    ["country asc", { field: "country", descending: false }],
    ["update_time Desc", { field: "update_time", descending: true }],
  ])("reads %j", (text, order) => {
    expect(parseOrderBy(text)).toEqual(order);
  });

  it.each(["name", "last_name down", "last_name desc extra", "LAST_NAME", "customer_id,email", "desc"])(
    "refuses %j, listing the allowed values",
    (text) => {
      expect(() => parseOrderBy(text)).toThrow(InvalidArgumentError);
      expect(() => parseOrderBy(text)).toThrow(
        /^order_by: .*customer_id, last_name, email, country, create_time, update_time/,
      );
    },
  );
});

describe("estimatedTotal", () => {
  const LIMIT = 10;
  const past = (first: number, frontEnd: number, backStart: number, last: number): MatchSample => ({
    matches: BigInt(LIMIT + 1),
    firstMatchAt: first,
    frontEndAt: frontEnd,
    backStartAt: backStart,
    lastMatchAt: last,
  });
  /** `count` matches `step` apart from `start`, sampled as the repository samples them. */
  const evenly = (count: number, start: number, step: number): MatchSample =>
    past(start, start + LIMIT * step, start + (count - 1 - LIMIT) * step, start + (count - 1) * step);

  it("is the count itself up to the limit", () => {
    const none = { firstMatchAt: null, frontEndAt: null, backStartAt: null, lastMatchAt: null };
    expect(estimatedTotal({ matches: 0n, ...none }, LIMIT)).toBe(0);
    expect(estimatedTotal({ matches: 10n, ...none }, LIMIT)).toBe(10);
  });

  it.each([12, 15, 21, 22, 23, 101, 1000])("is exact for %i evenly spread matches, ids or seconds", (count) => {
    expect(estimatedTotal(evenly(count, 1, 7), LIMIT)).toBe(count);
    expect(estimatedTotal(evenly(count, 1_700_000_000.25, 0.5), LIMIT)).toBe(count);
  });

  it("is not thrown off by a few matches far from the rest", () => {
    // 91 matches one apart (100…190), then 9 much later (5000…5008): the back sample thins out, the front one does not.
    expect(estimatedTotal(past(100, 110, 189, 5008), LIMIT)).toBe(100);
  });

  it("stays within int32", () => {
    expect(estimatedTotal(past(1, 11, 2 ** 40, 2 ** 40 + 10), LIMIT)).toBe(2 ** 31 - 1);
  });
});

describe("customers on SQLite alone", () => {
  let engine: SqliteEngineDatabase;
  let database: TestDatabase;
  let repository: Customers;

  beforeAll(async () => {
    engine = await sqliteDatabases.open();
    database = engine.sqlite;
    repository = customersOn(engine);
  });

  afterAll(async () => {
    await engine.dispose();
  });

  describe("error translation", () => {
    /** Runs `work` while another connection holds the write lock, without waiting for it. */
    async function whileLocked<T>(work: () => Promise<T>): Promise<T> {
      const other = new SqliteDatabase(database.path);
      database.sqlite.pragma("busy_timeout = 0");
      other.prepare("BEGIN IMMEDIATE").run();
      try {
        return await work();
      } finally {
        other.prepare("ROLLBACK").run();
        other.close();
        database.sqlite.pragma("busy_timeout = 5000");
      }
    }

    function failureWhileLocked(work: () => Promise<unknown>): Promise<unknown> {
      return whileLocked(() =>
        work().then(
          () => new Error("expected a failure"),
          (error: unknown) => error,
        ),
      );
    }

    it("still lists while another process holds the write lock: a read waits for no lock", async () => {
      const query = { filter: LIVE, order: BY_ID, pageSize: 3, pageToken: "" };
      const page = await whileLocked(() => repository.list(query));
      const ids = await whileLocked(() => repository.listIds(query));
      expect(page.customers.map((customer) => customer.customerId)).toEqual([1n, 2n, 3n]);
      expect(ids.customerIds).toEqual([1n, 2n, 3n]);
    });

    it.each([
      ["create", () => repository.create(newCustomer())],
      ["update", () => repository.update(1n, (c) => ({ ...c, city: c.city }))],
      ["softDelete", () => repository.softDelete(3n)],
      ["batchCreate", () => repository.batchCreate([{ customer: newCustomer() }])],
    ])("lets no SqliteError escape %s when the database is locked", async (_name, work) => {
      const error = await failureWhileLocked(work);
      expect(error).not.toBeInstanceOf(SqliteError);
      expect(error).toBeInstanceOf(UnavailableError);
      expect(error).toBeInstanceOf(DomainError);
    });
  });

  describe("query plans", () => {
    let logged: QueryLog;
    /** A repository of its own per call, so that no estimate it reported again spares a count its plan. */
    const planned = (): Customers => customersOn(engine, logged.db);

    interface Planned {
      counts: boolean;
      plan: string[];
    }

    beforeAll(async () => {
      // A second Kysely on the same handle records the SQL the repository sends.
      logged = engine.withQueryLog();
      planAsIfMillionCustomers(database.sqlite);
      await repository.create(
        newCustomer({ country: undefined, profile: profile({ loyaltyTier: LoyaltyTier.GOLD, tags: ["plan"] }) }),
      );
      await repository.create(newCustomer({ profile: profile({ loyaltyTier: LoyaltyTier.GOLD, tags: ["plan"] }) }));
      // Past EXACT_COUNT_LIMIT, so that the filters below also plan total_size's estimate.
      const many = Array.from({ length: EXACT_COUNT_LIMIT + 1 }, () => ({
        customer: newCustomer({
          country: "USA",
          supportRepId: 3n,
          profile: profile({ loyaltyTier: LoyaltyTier.GOLD, tags: ["plan"] }),
        }),
      }));
      await repository.batchCreate(many);
    });

    function explain(query: QueryLog["queries"][number]): Array<{ detail: string }> {
      return database.sqlite.prepare(`EXPLAIN QUERY PLAN ${query.sql}`).all(...query.parameters) as Array<{ detail: string }>;
    }

    async function plansOf(work: () => Promise<unknown>): Promise<Planned[]> {
      logged.queries.length = 0;
      await work();
      return logged.queries
        .filter((query) => /^(select|with)\b/i.test(query.sql))
        .map((query) => ({
          // total_size's statements: the bounded count, and past it the estimate's positions.
          counts: /count\(\*\)/i.test(query.sql) || query.sql.includes('"firstMatchAt"'),
          plan: explain(query).map((row) => row.detail),
        }));
    }

    function firstPagePlans(filter: CustomerFilter, order: CustomerOrder): Promise<Planned[]> {
      return plansOf(() => planned().list({ filter, order, pageSize: 1, pageToken: "" }));
    }

    function laterPagePlans(filter: CustomerFilter, order: CustomerOrder, cursor: CursorValue[]): Promise<Planned[]> {
      const pageToken = encodePageToken(pagingBinding(filter, order), cursor);
      return plansOf(() => planned().list({ filter, order, pageSize: 1000, pageToken }));
    }

    /** The first page, the page after it (when there is one) and their counts. */
    function pagePlans(filter: CustomerFilter, order: CustomerOrder): Promise<Planned[]> {
      return plansOf(async () => {
        const repository = planned();
        const page = await repository.list({ filter, order, pageSize: 1, pageToken: "" });
        if (page.nextPageToken === "") return;
        await repository.list({ filter, order, pageSize: 1, pageToken: page.nextPageToken });
      });
    }

    function fullScans(planned: Planned): string[] {
      return planned.plan.filter((detail) => detail.trim() === "SCAN customers");
    }

    function expectNoFullScan(plans: readonly Planned[]): void {
      expect(plans.length).toBeGreaterThan(0);
      for (const planned of plans) {
        // The whole plan in the expectation, so a failure shows it.
        expect({ ...planned, fullScans: fullScans(planned) }).toEqual({ ...planned, fullScans: [] });
      }
    }

    /** A keyset page seeks its start in an index: it never walks the rows before it. */
    function expectSeeks(plans: readonly Planned[]): void {
      const pages = plans.filter((planned) => !planned.counts);
      expect(pages.length).toBeGreaterThan(0);
      for (const { plan } of pages) expect(plan).toEqual([expect.stringMatching(/^SEARCH customers USING /)]);
    }

    it.each(EVERY_ORDER)("orders by %j through an index", async (order) => {
      expectNoFullScan(await pagePlans(LIVE, order));
    });

    // Т, Θ and Ι have four case variants each: eight LIKEs over the two name indexes.
    const prefixesByOrder = ["Та", "Θε", "Ιω", "Lu", "Éd", "Qx"].flatMap((namePrefix) =>
      EVERY_ORDER.map((order): [string, CustomerOrder] => [namePrefix, order]),
    );
    const WALK = /^(SCAN customers\b|SEARCH customers USING INTEGER PRIMARY KEY)/;

    it.each(prefixesByOrder)("lists name prefix %j in order %j through the name indexes, walking no other index", async (namePrefix, order) => {
      const filter: CustomerFilter = { namePrefix, showDeleted: false };
      const cursor = order.field === "customer_id" ? [null, 30n] : ["M", 30n];
      const plans = [
        ...(await pagePlans(filter, order)),
        ...(await laterPagePlans(filter, order, cursor)),
        ...(await plansOf(() => planned().listIds({ filter, order, pageSize: 1, pageToken: "" }))),
      ];
      const walks = plans.flatMap((planned) => planned.plan).filter((detail) => WALK.test(detail.trim()));
      expect({ plans, walks }).toEqual({ plans, walks: [] });
    });

    it.each([true, false])("lists a name prefix's customers without a country through the name indexes too (descending: %j)", async (descending) => {
      // Statistics that make the country index tempting for the run of customers without one.
      database.sqlite.prepare("UPDATE sqlite_stat1 SET stat = '1000000 10' WHERE idx = 'customers_country_idx'").run();
      database.sqlite.exec("ANALYZE sqlite_schema");
      try {
        const filter: CustomerFilter = { namePrefix: "Qx", showDeleted: false };
        const order: CustomerOrder = { field: "country", descending };
        const plans = [
          ...(await laterPagePlans(filter, order, ["A", 1n])),
          ...(await laterPagePlans(filter, order, [null, 1n])),
        ];
        const other = plans.flatMap((planned) => planned.plan).filter((detail) => /customers_country_idx|SCAN customers\b/.test(detail));
        expect({ plans, other }).toEqual({ plans, other: [] });
      } finally {
        database.sqlite.prepare("UPDATE sqlite_stat1 SET stat = '1000000 40000' WHERE idx = 'customers_country_idx'").run();
        database.sqlite.exec("ANALYZE sqlite_schema");
      }
    });

    const cursors: ReadonlyArray<[CustomerOrder, CursorValue[]]> = [
      ...EVERY_ORDER.filter((order) => order.field !== "customer_id").map((order): [CustomerOrder, CursorValue[]] => [
        order,
        ["M", 30n],
      ]),
      [{ field: "customer_id", descending: false }, [null, 30n]],
      [{ field: "customer_id", descending: true }, [null, 30n]],
      [{ field: "country", descending: false }, [null, 30n]],
      [{ field: "country", descending: true }, [null, 30n]],
    ];

    it.each(cursors)("seeks the page after a cursor in %j at %j", async (order, cursor) => {
      const plans = await laterPagePlans(LIVE, order, cursor);
      expectNoFullScan(plans);
      expectSeeks(plans);
    });

    const indexedFilters: ReadonlyArray<[string, CustomerFilter]> = [
      ["no filter", LIVE],
      ["show deleted", { showDeleted: true }],
      ["country", { country: "USA", showDeleted: false }],
      ["status", { status: CustomerStatus.ACTIVE, showDeleted: false }],
      ["status deleted", { status: CustomerStatus.DELETED, showDeleted: false }],
      ["email", { email: "LUISG@embraer.com.br", showDeleted: false }],
      ["email, deleted shown", { email: "LUISG@embraer.com.br", showDeleted: true }],
      ["name prefix", { namePrefix: "Lu", showDeleted: false }],
      ["name prefix with a non-ASCII letter", { namePrefix: "GONÇ", showDeleted: false }],
      ["name prefix starting with a non-ASCII letter", { namePrefix: "Éd", showDeleted: false }],
      ["non-ASCII email", { email: "STANISŁAW.WÓJCIK@wp.pl", showDeleted: false }],
      ["support rep", { supportRepId: 3n, showDeleted: false }],
      ["loyalty tier", { loyaltyTier: LoyaltyTier.GOLD, showDeleted: false }],
      ["country and loyalty tier", { country: "USA", loyaltyTier: LoyaltyTier.GOLD, showDeleted: false }],
      ["tag", { tag: "plan", showDeleted: false }],
      [
        "created after and before",
        {
          createdAfter: new Date("2000-01-01T00:00:00Z"),
          createdBefore: new Date("2100-01-01T00:00:00Z"),
          showDeleted: false,
        },
      ],
    ];
    const timeWindows: ReadonlyArray<[string, CustomerFilter]> = [
      ["created after", { createdAfter: new Date("2000-01-01T00:00:00Z"), showDeleted: false }],
      ["created before", { createdBefore: new Date("2100-01-01T00:00:00Z"), showDeleted: false }],
    ];

    it.each(indexedFilters)("filters by %s through an index", async (_name, filter) => {
      expectNoFullScan(await pagePlans(filter, BY_ID));
    });

    it.each(indexedFilters)("lists ids by %s through an index", async (_name, filter) => {
      expectNoFullScan(await plansOf(() => planned().listIds({ filter, order: BY_ID, pageSize: 1, pageToken: "" })));
    });

    it("lists ids by country + loyalty tier from the live country+tier index alone, never reading a row", async () => {
      const filter: CustomerFilter = { country: "USA", loyaltyTier: LoyaltyTier.GOLD, showDeleted: false };
      const query = { filter, order: BY_ID, pageSize: 1, pageToken: "" };
      const [page] = await plansOf(() => planned().listIds(query));
      expect(page?.plan).toEqual([
        expect.stringMatching(/^SEARCH customers USING COVERING INDEX customers_live_country_tier_idx \(Country=\? AND <expr>=\?/),
      ]);
    });

    it.each(indexedFilters)("streams by %s through an index", async (_name, filter) => {
      expectNoFullScan(await plansOf(() => collect(planned().stream(filter, 2))));
    });

    it.each(timeWindows)("filters by %s through the created_at index when ordered by create_time", async (_name, filter) => {
      expectNoFullScan(await pagePlans(filter, { field: "create_time", descending: false }));
      expectNoFullScan(await pagePlans(filter, { field: "create_time", descending: true }));
    });

    it("pages and counts country + loyalty tier through the live country+tier index, without sorting, counting from it alone", async () => {
      const filter: CustomerFilter = { country: "USA", loyaltyTier: LoyaltyTier.GOLD, showDeleted: false };
      const plans = await pagePlans(filter, BY_ID);
      // The page, the bounded count, the estimate's positions, then the next page.
      expect(plans.map((planned) => planned.counts)).toEqual([false, true, true, false]);
      for (const { plan, counts } of plans) {
        // Counting needs no row at all.
        const index = counts ? "COVERING INDEX" : "INDEX";
        expect(plan).toContainEqual(expect.stringContaining(`USING ${index} customers_live_country_tier_idx (Country=? AND <expr>=?`));
        expect(plan.filter((detail) => detail.includes("TEMP B-TREE"))).toEqual([]);
      }
    });

    // With a one-sided time window and customer_id order, SQLite prefers walking
    // the table's own rowid b-tree in order (stopped by LIMIT, constant memory)
    // over reading the created_at range and sorting every match on every page.
    // That walk is the only `SCAN customers` allowed: in order, never sorted.
    it.each(timeWindows)("filters by %s in customer_id order by walking the primary key in order", async (_name, filter) => {
      const plans = [
        ...(await firstPagePlans(filter, BY_ID)),
        ...(await plansOf(() => collect(planned().stream(filter, 2)))),
      ];
      expectNoFullScan(plans.filter((planned) => planned.counts));
      for (const { plan } of plans.filter((planned) => !planned.counts)) {
        const orderedRowidWalk = /^(SCAN customers|SEARCH customers USING INTEGER PRIMARY KEY \(rowid>\?\))$/;
        expect(plan).toEqual([expect.stringMatching(orderedRowidWalk)]);
      }
    });
  });
});
