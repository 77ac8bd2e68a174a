import { sql, type Kysely } from "kysely";
import { create } from "@bufbuild/protobuf";
import { CustomerSchema, CustomerStatus, LoyaltyTier } from "../gen/chinook/v1/customer_pb";
import pg from "pg";
import { AbortedError, AlreadyExistsError, FailedPreconditionError, UnavailableError } from "../src/errors";
import { runMigrateCli } from "../src/db/migrate-cli";
import { POSTGRES_MIGRATIONS, migrateToEmpty, migrateToLatest, migrationStatus } from "../src/db/migrate";
import { openPostgres, type PostgresDatabase } from "../src/db/postgres/connection";
import { isRetryable, translatingErrors, uniqueViolationConstraint } from "../src/db/postgres/errors";
import { postgresTransactions } from "../src/db/postgres/transactions";
import type { Database } from "../src/db/schema";
import { ID_ORDER } from "../src/customers/listing";
import { columnsFromCustomer } from "../src/customers/rows";
import type { NewCustomerRow } from "../src/customers/store";
import { PostgresCustomerStore } from "../src/customers/stores/postgres";
import { CHINOOK_SOURCE } from "./support/database";
import { freshPostgresDatabase, type TestPostgresDatabase } from "./support/postgres";

const opened: PostgresDatabase[] = [];
const created: TestPostgresDatabase[] = [];

afterEach(async () => {
  for (const database of opened.splice(0)) await database.close();
  for (const database of created.splice(0)) await database.drop();
});

async function fresh(options: Parameters<typeof openPostgres>[1] = {}): Promise<PostgresDatabase & { url: string }> {
  const database = await freshPostgresDatabase();
  created.push(database);
  const connection = openPostgres(database.url, { poolSize: 4, ...options });
  opened.push(connection);
  return { ...connection, url: database.url };
}

async function one<T>(db: Kysely<Database>, query: ReturnType<typeof sql<T>>): Promise<T> {
  const { rows } = await query.execute(db);
  const [row] = rows;
  if (row === undefined) throw new Error("no row");
  return row;
}

describe("PostgreSQL rows read as SQLite's", () => {
  it("reads int8 as bigint, numeric as exact text, timestamptz as ISO millisecond text, timestamp and jsonb as raw text, bytea as a Buffer", async () => {
    const { db } = await fresh();

    const row = await one(
      db,
      sql<Record<string, unknown>>`SELECT
        9007199254740993::int8 AS big,
        count(*) AS counted,
        12.30::numeric(10,2) AS money,
        '2026-01-02T03:04:05.678Z'::timestamptz AS instant,
        '2026-01-02 03:04:05.678912+02'::timestamptz AS micro,
        '2009-01-01 00:00:00'::timestamp AS local,
        '{"b": 1, "a": [true]}'::jsonb AS document,
        '{"b":1}'::json AS plain,
        '\\x0102'::bytea AS bytes
      FROM customers`,
    );

    expect(row).toEqual({
      big: 9007199254740993n,
      counted: 59n,
      money: "12.30",
      instant: "2026-01-02T03:04:05.678Z",
      micro: "2026-01-02T01:04:05.678Z",
      local: "2009-01-01 00:00:00",
      document: '{"a": [true], "b": 1}',
      plain: '{"b":1}',
      bytes: Buffer.from([1, 2]),
    });
  });

  it("reads every timestamptz as pg's own parser would, then toISOString(), infinities as their text", async () => {
    const { db } = await fresh();
    const texts = [
      "2026-01-02 03:04:05+00",
      "2026-01-02 03:04:05.1+00",
      "2026-01-02 03:04:05.12+00",
      "2026-01-02 03:04:05.999999+00",
      "0001-01-01 00:00:00+00",
      "9999-12-31 23:59:59.999+00",
      "0044-03-15 12:00:00 BC",
      "12026-01-02 03:04:05+00",
      "1890-05-06 07:08:09.5+01:23:45",
      "infinity",
      "-infinity",
    ];
    const { rows } = await sql<{ instant: string; text: string }>`SELECT t::timestamptz AS instant, t::timestamptz::text AS text FROM unnest(${texts}::text[]) AS t`.execute(db);
    const pgParse = pg.types.getTypeParser(1184, "text");
    const expected = rows.map(({ text }) => {
      const parsed: unknown = pgParse(text);
      return parsed instanceof Date && Number.isFinite(parsed.getTime()) ? parsed.toISOString() : text;
    });
    expect(rows.map((row) => row.instant)).toEqual(expected);
    expect(rows.at(-1)?.instant).toBe("-infinity");
  });

  it("writes ISO text into timestamptz and reads the same text back, whatever the server's time zone", async () => {
    const { db, url } = await fresh();
    await sql`ALTER DATABASE ${sql.id(new URL(url).pathname.slice(1))} SET TimeZone = 'America/Sao_Paulo'`.execute(db);
    const other = openPostgres(url, { poolSize: 1 });
    opened.push(other);

    await other.db.updateTable("customers").set({ created_at: "2026-03-04T05:06:07.089Z" }).where("CustomerId", "=", 1n).execute();

    const customer = await other.db.selectFrom("customers").select(["created_at", "status", "data"]).where("CustomerId", "=", 1n).executeTakeFirstOrThrow();
    expect(customer).toEqual({ created_at: "2026-03-04T05:06:07.089Z", status: 1n, data: null });
  });

  it("leaves pg's global type parsers alone", async () => {
    await fresh();
    expect(pg.types.getTypeParser(20, "text")("5")).toBe("5");
  });

  it("answers the health probe, and says unreachable without throwing once closed", async () => {
    const database = await fresh();
    expect(await database.isReachable()).toBe(true);
    await database.close();
    opened.splice(opened.indexOf(database), 1);
    expect(await database.isReachable()).toBe(false);
  });
});

describe("PostgreSQL prepared statements", () => {
  it("runs the registered hot statements as named prepared statements, once prepared per connection, and others unnamed", async () => {
    const { db } = await fresh({ poolSize: 1 });
    const store = new PostgresCustomerStore(db, postgresTransactions());

    expect((await store.find(1n))?.CustomerId).toBe(1n);
    expect([...(await store.findMany([2n, 3n])).keys()].sort()).toEqual([2n, 3n]);
    // Outside a transaction a find is batched with others (findMany); inside one, it goes alone.
    expect((await store.write((inTransaction) => inTransaction.find(4n)))?.CustomerId).toBe(4n);
    await store.countMatching({ showDeleted: false });

    const { rows } = await sql<{ name: string }>`SELECT name FROM pg_prepared_statements ORDER BY name`.execute(db);
    expect(rows.map((row) => row.name)).toEqual(["customers_by_id", "customers_by_ids_1", "customers_by_ids_2"]);
  });

  it("prepares a listing's page once per shape when every plan of it reads only matches, and sends others unnamed", async () => {
    const { db } = await fresh({ poolSize: 1 });
    const store = new PostgresCustomerStore(db, postgresTransactions());
    const prepared = async () =>
      (await sql<{ name: string }>`SELECT name FROM pg_prepared_statements WHERE name LIKE 'customers_page_%'`.execute(db)).rows.length;
    const byLastName = { field: "last_name", descending: false } as const;

    // Planned for their values: a generic plan could walk an order's index past every row.
    expect((await store.listKeys({ country: "Brazil", showDeleted: false }, byLastName, undefined, 1)).map((key) => key.CustomerId)).toEqual([12n]);
    await store.listRows({ supportRepId: 3n, showDeleted: false }, ID_ORDER, undefined, 1);
    await store.listRows({ loyaltyTier: LoyaltyTier.GOLD, showDeleted: true }, ID_ORDER, undefined, 1);
    expect(await prepared()).toBe(0);

    // An index holds a country's customers in id order: one statement for every country.
    expect((await store.listKeys({ country: "Brazil", showDeleted: false }, ID_ORDER, undefined, 2)).map((key) => key.CustomerId)).toEqual([1n, 10n]);
    expect((await store.listKeys({ country: "Canada", showDeleted: false }, ID_ORDER, undefined, 1)).map((key) => key.CustomerId)).toEqual([3n]);
    expect(await prepared()).toBe(1);
    await store.listKeys({ showDeleted: false }, ID_ORDER, undefined, 1);
    expect(await prepared()).toBe(2);
  });
});

describe("PostgreSQL finds", () => {
  it("sends sixteen finds made at once as two statements of eight, in flight together on two connections", async () => {
    const { db, pool } = await fresh({ poolSize: 4 });
    const sent: string[] = [];
    let inFlight = 0;
    let mostInFlight = 0;
    pool.on("connect", (client: pg.PoolClient) => {
      const query = client.query.bind(client) as (config: pg.QueryConfig) => Promise<unknown>;
      client.query = (async (config: pg.QueryConfig) => {
        sent.push(config.name ?? "unnamed");
        mostInFlight = Math.max(mostInFlight, ++inFlight);
        try {
          return await query(config);
        } finally {
          inFlight--;
        }
      }) as typeof client.query;
    });
    // Two connections open and idle, so that neither statement waits for a connection to be made.
    for (const client of await Promise.all([pool.connect(), pool.connect()])) client.release();
    const store = new PostgresCustomerStore(db, postgresTransactions());
    const ids = Array.from({ length: 15 }, (_, index) => BigInt(index + 1)).concat(999_999n);

    const found = await Promise.all(ids.map((id) => store.find(id)));

    expect(found.map((row) => row?.CustomerId)).toEqual([...ids.slice(0, -1), undefined]);
    expect(sent).toEqual(["customers_by_ids_8", "customers_by_ids_8"]);
    expect(mostInFlight).toBe(2);
  });
});

describe("PostgreSQL creates", () => {
  const newRow = (firstName: string, email: string): NewCustomerRow => ({
    ...columnsFromCustomer(create(CustomerSchema, { firstName, lastName: "Lovelace", email, status: CustomerStatus.ACTIVE }), null),
    created_at: "2026-12-07T00:00:00.000Z",
    updated_at: "2026-12-07T00:00:00.000Z",
  });

  it("runs each create of a batch PostgreSQL refused on its own: the others are created, the bad one gets its own error", async () => {
    const { db } = await fresh();
    const store = new PostgresCustomerStore(db, postgresTransactions());
    const rows = ["Ada", "A".repeat(100), "Grace"].map((firstName, index) => newRow(firstName, `refused.${index}@example.com`));

    const answers = await Promise.allSettled(rows.map((row) => store.insertAlone(row)));

    expect(answers.map((answer) => (answer.status === "fulfilled" ? answer.value.FirstName : answer.reason))).toEqual([
      "Ada",
      expect.objectContaining({ code: "22001" }), // FirstName is varchar(40)
      "Grace",
    ]);
    const stored = await db.selectFrom("customers").select("FirstName").where("Email", "like", "refused.%").orderBy("Email").execute();
    expect(stored.map((row) => row.FirstName)).toEqual(["Ada", "Grace"]);
  });

  it("answers a batch whose answer never came UNAVAILABLE, and never runs it again: it may have been written", async () => {
    const { db, pool, url } = await fresh({ poolSize: 2 });
    const checkedOut: pg.PoolClient[] = [];
    pool.on("acquire", (client: pg.PoolClient) => checkedOut.push(client));
    const store = new PostgresCustomerStore(db, postgresTransactions());
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      // Inserts wait for this lock: the batch stays in flight until its connection is cut.
      await admin.query("BEGIN");
      await admin.query("LOCK TABLE customers IN SHARE MODE");
      const answers = Promise.allSettled(["cut.1@example.com", "cut.2@example.com"].map((email) => store.insertAlone(newRow("Cut", email))));
      let blocked: number | undefined;
      while (blocked === undefined) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        const { rows } = await admin.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'WITH input AS%'",
        );
        blocked = rows[0]?.pid;
      }
      const batchClient = checkedOut.find((client) => (client as pg.PoolClient & { processID: number }).processID === blocked);
      (batchClient as (pg.PoolClient & Pick<pg.Client, "connection">) | undefined)?.connection.stream.destroy();

      expect((await answers).map((answer) => (answer.status === "rejected" ? answer.reason : answer.value))).toEqual([
        expect.any(UnavailableError),
        expect.any(UnavailableError),
      ]);
    } finally {
      await admin.query("ROLLBACK");
      await admin.end();
    }
  });

  it("gives each email one winner, without a deadlock, when two processes' batches hold the same emails in opposite orders", async () => {
    const { db, url } = await fresh();
    const other = openPostgres(url, { poolSize: 4 });
    opened.push(other);
    const mine = new PostgresCustomerStore(db, postgresTransactions());
    const theirs = new PostgresCustomerStore(other.db, postgresTransactions());

    for (let round = 0; round < 10; round++) {
      const emails = [`crossed.${round}.a@example.com`, `crossed.${round}.b@example.com`];
      const answers = await Promise.allSettled([
        ...emails.map((email) => mine.insertAlone(newRow("Mine", email))),
        ...[...emails].reverse().map((email) => theirs.insertAlone(newRow("Theirs", email))),
      ]);

      const created = answers.flatMap((answer) => (answer.status === "fulfilled" ? [answer.value.Email] : []));
      expect(created.sort()).toEqual(emails);
      expect(answers.filter((answer) => answer.status === "rejected").map((answer) => (answer as PromiseRejectedResult).reason)).toEqual([
        expect.objectContaining({ errorReason: "EMAIL_TAKEN" }),
        expect.objectContaining({ errorReason: "EMAIL_TAKEN" }),
      ]);
    }
    const { count } = await db.selectFrom("customers").select((eb) => eb.fn.countAll<string>().as("count")).where("Email", "like", "crossed.%").executeTakeFirstOrThrow();
    expect(Number(count)).toBe(20);
    const { deadlocks } = await sql<{ deadlocks: bigint }>`SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`
      .execute(db)
      .then(({ rows }) => rows[0] ?? { deadlocks: -1n });
    expect(deadlocks).toBe(0n);
  });
});

describe("PostgreSQL exports", () => {
  it("hold no connection while their consumers are slow: a read goes on past more stalled exports than the pool has connections", async () => {
    const { db } = await fresh({ poolSize: 2 });
    const store = new PostgresCustomerStore(db, postgresTransactions());
    const exports = [1, 2, 3].map(() => store.stream({ showDeleted: false }, 2)[Symbol.asyncIterator]());
    try {
      for (const rows of exports) expect((await rows.next()).done).toBe(false);
      expect((await withinSeconds(5, store.find(1n)))?.CustomerId).toBe(1n);
    } finally {
      await Promise.all(exports.map((rows) => rows.return?.(undefined)));
    }
  });
});

/** `work`'s result, or a failure when it takes longer than `seconds`. */
async function withinSeconds<T>(seconds: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${seconds} s`)), seconds * 1000);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe("PostgreSQL errors as domain errors", () => {
  it("makes a unique violation ALREADY_EXISTS, naming its constraint to the server only", async () => {
    const { db } = await fresh();

    const error = await translatingErrors(() =>
      db.insertInto("customers").values({ FirstName: "A", LastName: "B", Email: "LUISG@embraer.com.br", created_at: "2026-01-01T00:00:00.000Z", updated_at: "2026-01-01T00:00:00.000Z" }).execute(),
    ).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(AlreadyExistsError);
    expect((error as Error).message).toBe("the resource already exists");
    expect(uniqueViolationConstraint(error)).toBe("customers_live_email_key");
  });

  it("makes a foreign key violation FAILED_PRECONDITION", async () => {
    const { db } = await fresh();
    const error = await translatingErrors(() => db.updateTable("customers").set({ SupportRepId: 999n }).where("CustomerId", "=", 1n).execute()).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(FailedPreconditionError);
  });

  it("makes a statement timeout UNAVAILABLE", async () => {
    const { db } = await fresh({ statementTimeoutMs: 50 });
    await expect(translatingErrors(() => sql`SELECT pg_sleep(1)`.execute(db))).rejects.toBeInstanceOf(UnavailableError);
  });

  it("makes an unreachable server UNAVAILABLE, without the password anywhere", async () => {
    const unreachable = openPostgres("postgres://chinook:hunter2secret@127.0.0.1:1/chinook", { connectTimeoutMs: 1_000 });
    opened.push(unreachable);

    const error = await translatingErrors(() => sql`SELECT 1`.execute(unreachable.db)).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toBe("the database is unavailable; retry later");
    const cause = (error as Error).cause as Error;
    expect(`${cause.message} ${cause.stack ?? ""} ${JSON.stringify(cause)}`).not.toContain("hunter2secret");
    expect(unreachable.redactedUrl).toBe("postgres://chinook:***@127.0.0.1:1/chinook");
    expect(await unreachable.isReachable()).toBe(false);
  });

  it("makes a connection the server ends mid-query UNAVAILABLE (an admin shutdown), and goes on with a new one", async () => {
    const { db, pool, url } = await fresh();
    const running = translatingErrors(() => sql`SELECT pg_sleep(10)`.execute(db)).catch((caught: unknown) => caught);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      for (let ended = 0; ended === 0; ) {
        const { rowCount } = await admin.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep(10)%' AND pid <> pg_backend_pid()",
        );
        ended = rowCount ?? 0;
      }
    } finally {
      await admin.end();
    }

    const error = await running;
    expect(error).toBeInstanceOf(UnavailableError);
    expect(((error as Error).cause as { code?: string }).code).toBe("57P01");
    // The pool drops the dead connection when its socket closes, a moment after the error.
    while (pool.totalCount > 0) await new Promise((resolve) => setImmediate(resolve));
    await expect(sql`SELECT 1`.execute(db)).resolves.toBeDefined();
  });
});

describe("PostgreSQL transactions", () => {
  it("retries a serialization failure and then succeeds", async () => {
    const { db } = await fresh();
    const retries: unknown[] = [];
    const transactions = postgresTransactions({ onRetry: (error) => retries.push(error) });
    let runs = 0;
    let interfered = false;

    const email = await transactions.write(db, async (tx) => {
      runs++;
      const { Email } = await tx.selectFrom("customers").select("Email").where("CustomerId", "=", 1n).executeTakeFirstOrThrow();
      if (!interfered) {
        interfered = true;
        // Another process changes the row after this transaction's snapshot.
        await db.updateTable("customers").set({ City: "elsewhere" }).where("CustomerId", "=", 1n).execute();
      }
      await tx.updateTable("customers").set({ Email: `x${Email}` }).where("CustomerId", "=", 1n).execute();
      return Email;
    });

    expect(email).toBe("luisg@embraer.com.br");
    expect(runs).toBe(2);
    expect(retries).toHaveLength(1);
    expect(isRetryable(retries[0])).toBe(true);
    const row = await db.selectFrom("customers").select(["Email", "City"]).where("CustomerId", "=", 1n).executeTakeFirstOrThrow();
    expect(row).toEqual({ Email: "xluisg@embraer.com.br", City: "elsewhere" });
  });

  it("gives up with ABORTED when every attempt conflicts", async () => {
    const { db } = await fresh();
    const transactions = postgresTransactions({ attempts: 3, backoffMs: 1 });
    let runs = 0;

    const outcome = transactions.write(db, async (tx) => {
      runs++;
      await tx.selectFrom("customers").select("Email").where("CustomerId", "=", 1n).execute();
      await db.updateTable("customers").set({ City: `run ${runs}` }).where("CustomerId", "=", 1n).execute();
      await tx.updateTable("customers").set({ Fax: "0" }).where("CustomerId", "=", 1n).execute();
    });

    await expect(outcome).rejects.toBeInstanceOf(AbortedError);
    await expect(outcome).rejects.toThrow("the transaction conflicted with another one; retry");
    expect(runs).toBe(3);
  });

  it("runs work in the transaction it is given, and reads on one snapshot, read-only", async () => {
    const { db } = await fresh();
    const transactions = postgresTransactions();

    await transactions.batch(db, async (tx) => {
      await transactions.write(tx, (same) => same.updateTable("customers").set({ City: "A" }).where("CustomerId", "=", 1n).execute());
      const { City } = await tx.selectFrom("customers").select("City").where("CustomerId", "=", 1n).executeTakeFirstOrThrow();
      expect(City).toBe("A");
    });
    const cities = await transactions.read(db, async (tx) => {
      const before = await tx.selectFrom("customers").select("City").where("CustomerId", "=", 1n).executeTakeFirstOrThrow();
      await db.updateTable("customers").set({ City: "B" }).where("CustomerId", "=", 1n).execute();
      const after = await tx.selectFrom("customers").select("City").where("CustomerId", "=", 1n).executeTakeFirstOrThrow();
      return [before.City, after.City];
    });
    expect(cities).toEqual(["A", "A"]);
    await expect(transactions.read(db, (tx) => tx.deleteFrom("request_ids").execute())).rejects.toThrow();
  });

  it("translates errors out of every kind of unit", async () => {
    const { db } = await fresh();
    const transactions = postgresTransactions();
    const duplicate = (tx: Kysely<Database>) => tx.updateTable("customers").set({ Email: "luisg@embraer.com.br" }).where("CustomerId", "=", 2n).execute();

    await expect(transactions.write(db, duplicate)).rejects.toBeInstanceOf(AlreadyExistsError);
    await expect(transactions.batch(db, duplicate)).rejects.toBeInstanceOf(AlreadyExistsError);
    await expect(transactions.run(db, () => duplicate(db))).rejects.toBeInstanceOf(AlreadyExistsError);
  });
});

describe("chinook_fold", () => {
  it.each([
    ["ΝΊΚΟΣ", "νίκος"],
    ["ΝΊΚΟΣ", "νίκοσ"],
    ["STRAẞE", "straße"],
    ["Luís", "LUÍS"],
    ["Ada.Lovelace@Example.COM", "ada.lovelace@example.com"],
  ])("folds %s and %s alike", async (a, b) => {
    const { db } = await fresh();
    const row = await one(db, sql<{ same: boolean }>`SELECT chinook_fold(${a}) = chinook_fold(${b}) AS same`);
    expect(row.same).toBe(true);
  });

  it("keeps different letters apart", async () => {
    const { db } = await fresh();
    const row = await one(db, sql<{ same: boolean }>`SELECT chinook_fold('luis') = chinook_fold('luís') AS same`);
    expect(row.same).toBe(false);
  });

  it("makes live emails unique across case classes, and lets a deleted customer's email be reused", async () => {
    const { db } = await fresh();
    const values = { FirstName: "N", LastName: "K", created_at: "2026-01-01T00:00:00.000Z", updated_at: "2026-01-01T00:00:00.000Z" };
    await db.insertInto("customers").values({ ...values, Email: "νίκος@example.gr" }).execute();

    await expect(translatingErrors(() => db.insertInto("customers").values({ ...values, Email: "ΝΊΚΟΣ@EXAMPLE.GR" }).execute())).rejects.toBeInstanceOf(
      AlreadyExistsError,
    );
    await db.updateTable("customers").set({ status: 4 }).where("Email", "=", "νίκος@example.gr").execute();
    await db.insertInto("customers").values({ ...values, Email: "ΝΊΚΟΣ@EXAMPLE.GR" }).execute();
  });
});

describe("PostgreSQL migrations", () => {
  it("reverts to plain Chinook and applies again", async () => {
    const { db } = await fresh();
    const names = Object.keys(POSTGRES_MIGRATIONS.migrations);

    expect((await migrationStatus(db, POSTGRES_MIGRATIONS)).every((migration) => migration.appliedAt !== undefined)).toBe(true);
    expect(await migrateToEmpty(db, POSTGRES_MIGRATIONS)).toEqual([...names].reverse());
    const columns = await sql<{ column_name: string }>`SELECT column_name FROM information_schema.columns WHERE table_name = 'customers' AND column_name IN ('status', 'data', 'created_at', 'updated_at')`.execute(db);
    expect(columns.rows).toEqual([]);
    const leftovers = await sql<{ name: string }>`SELECT relname AS name FROM pg_class WHERE relname IN ('request_ids', 'customers_live_email_key', 'invoices_customer_date_idx', 'page_token_keys')
      UNION ALL SELECT proname FROM pg_proc WHERE proname = 'chinook_fold'`.execute(db);
    expect(leftovers.rows).toEqual([]);

    expect(await migrateToLatest(db, POSTGRES_MIGRATIONS)).toEqual(names);
    const customer = await db.selectFrom("customers").select(["status", "created_at"]).where("CustomerId", "=", 59n).executeTakeFirstOrThrow();
    expect(customer.status).toBe(1n);
    expect(customer.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it("walks customers by index for each order and filter", async () => {
    const { db } = await fresh();
    await sql`SET enable_seqscan = off`.execute(db);
    const plans: string[] = [];
    for (const query of [
      sql`SELECT * FROM customers WHERE chinook_fold("Email") COLLATE "C" = chinook_fold('LUISG@embraer.com.br')`,
      sql`SELECT * FROM customers ORDER BY lower("LastName" COLLATE "C"), "CustomerId" LIMIT 5`,
      sql`SELECT * FROM customers ORDER BY "Country" COLLATE "C" DESC NULLS LAST, "CustomerId" DESC LIMIT 5`,
      sql`SELECT * FROM customers WHERE chinook_fold("FirstName") COLLATE "C" LIKE 'lu%'`,
      sql`SELECT * FROM customers WHERE data->'tags' @> '["vip"]'`,
    ]) {
      const { rows } = await sql<{ "QUERY PLAN": string }>`EXPLAIN ${query}`.execute(db);
      plans.push(rows.map((row) => row["QUERY PLAN"]).join("\n"));
    }
    for (const plan of plans) expect(plan).not.toContain("Seq Scan");
  });
});

describe("npm run migrate with DATABASE_URL", () => {
  it("loads Chinook and migrates an empty database; status creates nothing", async () => {
    const database = await freshPostgresDatabase();
    created.push(database);
    const connection = openPostgres(database.url, { poolSize: 1 });
    opened.push(connection);
    // An empty database: what is left once everything is dropped.
    await sql`DROP SCHEMA public CASCADE`.execute(connection.db);
    await sql`CREATE SCHEMA public`.execute(connection.db);
    const lines: string[] = [];
    const out = { stdout: (line: string) => lines.push(line), stderr: (line: string) => lines.push(`! ${line}`) };
    const env = { DATABASE_URL: database.url, CHINOOK_DB: CHINOOK_SOURCE };

    expect(await runMigrateCli(["status"], env, out)).toBe(0);
    const tables = await sql<{ n: bigint }>`SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'`.execute(connection.db);
    expect(tables.rows[0]?.n).toBe(0n);
    expect(lines.every((line) => line.startsWith("pending"))).toBe(true);

    lines.length = 0;
    expect(await runMigrateCli(["up"], env, out)).toBe(0);
    expect(lines[0]).toMatch(/^! loaded the Chinook database into postgres:\/\/postgres:\*\*\*@/);
    expect(lines.slice(1)).toEqual(Object.keys(POSTGRES_MIGRATIONS.migrations).map((name) => `applied ${name}`));

    lines.length = 0;
    expect(await runMigrateCli(["down"], env, out)).toBe(0);
    expect(lines).toEqual([`reverted ${Object.keys(POSTGRES_MIGRATIONS.migrations).at(-1) ?? ""}`]);
  });
});
