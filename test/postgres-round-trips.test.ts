/**
 * How often a call waits for PostgreSQL: each wait costs the service ~100 µs
 * of driver and kernel work (bench/RESULTS.md). A transaction's BEGIN travels
 * with the statement after it (src/db/postgres/preparing-pool.ts); a first
 * page carries its total_size's count and estimate, and a page without its
 * count needs no transaction (src/customers/stores/postgres.ts).
 */
import { create } from "@bufbuild/protobuf";
import { sql } from "kysely";
import type pg from "pg";
import { CustomerProfileSchema, CustomerSchema, type Customer } from "../gen/chinook/v1/customer_pb";
import { Customers } from "../src/customers/customers";
import { PostgresCustomerStore } from "../src/customers/stores/postgres";
import { openPostgres, type PostgresDatabase } from "../src/db/postgres/connection";
import { postgresTransactions } from "../src/db/postgres/transactions";
import { freshPostgresDatabase, type TestPostgresDatabase } from "./support/postgres";

interface Waits {
  statements: number;
  /** Statements sent while none was awaiting its answer: each a wait of its own. */
  roundTrips: number;
}

let database: TestPostgresDatabase;
let connection: PostgresDatabase;
let customers: Customers;
let counted: Waits = { statements: 0, roundTrips: 0 };

beforeAll(async () => {
  database = await freshPostgresDatabase();
  connection = openPostgres(database.url, { poolSize: 1 });
  connection.pool.on("connect", countingWaits);
  customers = new Customers(new PostgresCustomerStore(connection.db, postgresTransactions()));
});

afterAll(async () => {
  await connection.close();
  await database.drop();
});

function countingWaits(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  let awaiting = 0;
  client.query = ((...args: unknown[]) => {
    const answer = query(...args);
    counted.statements++;
    if (awaiting === 0) counted.roundTrips++;
    if (answer instanceof Promise) {
      awaiting++;
      void answer.then(
        () => awaiting--,
        () => awaiting--,
      );
    }
    return answer;
  }) as typeof client.query;
}

async function waitsOf(work: () => Promise<unknown>): Promise<Waits> {
  counted = { statements: 0, roundTrips: 0 };
  await work();
  return counted;
}

const newCustomer = (email: string) =>
  create(CustomerSchema, { firstName: "Ada", lastName: "Lovelace", email, country: "United Kingdom", supportRepId: 3n });

describe("round trips to PostgreSQL per call", () => {
  it("GetCustomer: the prepared find", async () => {
    await customers.get(1n); // connects
    expect(await waitsOf(() => customers.get(1n))).toEqual({ statements: 1, roundTrips: 1 });
  });

  it("GetCustomer, eight at once: one statement finds them all, and a missing one is NOT_FOUND alone", async () => {
    const ids = [1n, 2n, 3n, 4n, 5n, 6n, 7n, 999_999n];
    let answers: Array<PromiseSettledResult<Customer>> = [];
    const waits = await waitsOf(async () => {
      answers = await Promise.allSettled(ids.map((id) => customers.get(id)));
    });
    expect(waits).toEqual({ statements: 1, roundTrips: 1 });
    expect(answers.map((answer) => (answer.status === "fulfilled" ? answer.value.customerId : answer.reason))).toEqual([
      ...ids.slice(0, -1),
      expect.objectContaining({ errorReason: "CUSTOMER_NOT_FOUND" }),
    ]);
  });

  it("GetCustomer from callbacks of the same turn of the event loop: one statement finds them all", async () => {
    // As gRPC hands over requests read together: each call made in a callback of its own.
    const gets: Array<Promise<Customer>> = [];
    const waits = await waitsOf(async () => {
      await new Promise<void>((resolve) => {
        for (const id of [1n, 2n, 3n]) setImmediate(() => gets.push(customers.get(id)));
        setImmediate(resolve);
      });
      await Promise.all(gets);
    });
    expect(waits).toEqual({ statements: 1, roundTrips: 1 });
    expect((await Promise.all(gets)).map((customer) => customer.customerId)).toEqual([1n, 2n, 3n]);
  });

  it("GetCustomer while a find is in flight: the calls made meanwhile, turns apart, share the next statement", async () => {
    const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
    let release: () => void = () => undefined;
    // The pool's one connection, held by a transaction: the first find's statement waits for it, in flight all along.
    let held: () => void = () => undefined;
    const holding = connection.db.transaction().execute(
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
          held();
        }),
    );
    await new Promise<void>((resolve) => (held = resolve));
    let answers: Customer[] = [];
    const waits = await waitsOf(async () => {
      const gets = [customers.get(1n)];
      for (const id of [2n, 3n, 4n]) {
        await nextTurn();
        gets.push(customers.get(id));
      }
      release();
      await holding;
      answers = await Promise.all(gets);
    });
    // The transaction's COMMIT (its BEGIN went before), then two finds, not four.
    expect(waits.statements).toBe(3);
    expect(answers.map((customer) => customer.customerId)).toEqual([1n, 2n, 3n, 4n]);
  });

  it("ListCustomers, first page: BEGIN and the page with its total in one, then COMMIT; a page after it: one statement alone", async () => {
    let nextPageToken = "";
    const waits = await waitsOf(async () => {
      ({ nextPageToken } = await customers.list({ filter: { showDeleted: false }, order: { field: "last_name", descending: false }, pageSize: 10, pageToken: "" }));
    });
    expect(waits).toEqual({ statements: 3, roundTrips: 2 });
    const next = await waitsOf(() =>
      customers.list({ filter: { showDeleted: false }, order: { field: "last_name", descending: false }, pageSize: 10, pageToken: nextPageToken }),
    );
    expect(next).toEqual({ statements: 1, roundTrips: 1 });
  });

  it("ListCustomers by country, a page that reaches the customers without one: its two runs in one snapshot", async () => {
    const byCountry = { filter: { showDeleted: false }, order: { field: "country", descending: true }, pageSize: 50, pageToken: "" } as const;
    const { nextPageToken } = await customers.list(byCountry);
    expect(await waitsOf(() => customers.list({ ...byCountry, pageToken: nextPageToken }))).toEqual({ statements: 4, roundTrips: 3 });
  });

  it("CreateCustomer: one insert that checks the support rep itself, outside any transaction", async () => {
    expect(await waitsOf(() => customers.create(newCustomer("round.trips@example.com")))).toEqual({ statements: 1, roundTrips: 1 });
  });

  it("CreateCustomer, several at once: one statement creates them all; a taken email and a missing support rep are answered alone", async () => {
    const requests = [
      newCustomer("together.1@example.com"),
      // Each column travels as one array literal: what its quoting must carry through.
      create(CustomerSchema, { ...newCustomer("together.2@example.com"), company: "NULL", fax: "", profile: create(CustomerProfileSchema, { tags: ['say "hi"', "back\\slash", "zoë, {x}"] }) }),
      newCustomer("together.twin@example.com"),
      newCustomer("Together.Twin@example.com"),
      create(CustomerSchema, { ...newCustomer("together.3@example.com"), supportRepId: 999n }),
      newCustomer("together.4@example.com"),
    ];
    let answers: Array<PromiseSettledResult<Customer>> = [];
    const waits = await waitsOf(async () => {
      answers = await Promise.allSettled(requests.map((customer) => customers.create(customer)));
    });

    // The six together, then the two the batch skipped, each alone for its own answer.
    expect(waits).toEqual({ statements: 3, roundTrips: 3 });
    expect(answers.map((answer) => (answer.status === "fulfilled" ? answer.value.email : answer.reason))).toEqual([
      "together.1@example.com",
      "together.2@example.com",
      "together.twin@example.com",
      expect.objectContaining({ errorReason: "EMAIL_TAKEN" }),
      expect.objectContaining({ errorReason: "SUPPORT_REP_NOT_FOUND" }),
      "together.4@example.com",
    ]);
    const created = answers.flatMap((answer) => (answer.status === "fulfilled" ? [answer.value] : []));
    expect(new Set(created.map((customer) => customer.customerId)).size).toBe(4);
    for (const customer of created) expect(await customers.get(customer.customerId)).toEqual(customer);
    expect(created[1]).toMatchObject({ company: "NULL", fax: "", profile: { tags: ['say "hi"', "back\\slash", "zoë, {x}"] } });
  });

  it("CreateCustomer with a request_id: BEGIN with the lookup, the claim, the insert, the answer recorded, COMMIT", async () => {
    const waits = await waitsOf(() => customers.create(newCustomer("round.trips.retried@example.com"), "round-trips-request"));
    expect(waits).toEqual({ statements: 6, roundTrips: 5 });
  });

  it("UpdateCustomer: BEGIN with the find, the update, COMMIT", async () => {
    const waits = await waitsOf(() => customers.update(2n, (current) => ({ ...current, city: "Oslo" })));
    expect(waits).toEqual({ statements: 4, roundTrips: 3 });
  });

  it("fails the statement after one sent ahead when that one fails, with its error", async () => {
    const work = connection.db.transaction().execute(async (tx) => {
      await sql`SET LOCAL no_such_setting = 1`.execute(tx);
      return sql`SELECT 1`.execute(tx);
    });
    await expect(work).rejects.toThrow(/unrecognized configuration parameter "no_such_setting"/);
    expect((await customers.get(1n)).customerId).toBe(1n);
  });
});
