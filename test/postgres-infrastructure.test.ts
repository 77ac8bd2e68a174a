import { sql } from "kysely";
import { SqliteDatabase } from "../src/db/sqlite/driver";
import { CHINOOK_TABLE_NAMES, chinookLoaded, loadChinook } from "../src/db/postgres/chinook";
import { openPostgres, type PostgresDatabase } from "../src/db/postgres/connection";
import { CHINOOK_SOURCE } from "./support/database";
import { databaseUrl, freshPostgresDatabase, postgresAdminUrl, type TestPostgresDatabase } from "./support/postgres";
import pg from "pg";
import { POSTGRES_MIGRATIONS, migrationStatus } from "../src/db/migrate";
import { startTestServer } from "./support/server";

const opened: Array<{ close(): Promise<void> }> = [];
const created: TestPostgresDatabase[] = [];

afterEach(async () => {
  for (const database of opened.splice(0)) await database.close();
  for (const database of created.splice(0)) await database.drop();
});

function open(url: string): PostgresDatabase {
  const database = openPostgres(url, { poolSize: 4 });
  opened.push(database);
  return database;
}

async function fresh(): Promise<PostgresDatabase> {
  const database = await freshPostgresDatabase();
  created.push(database);
  return open(database.url);
}

/** An empty database on the test server. */
async function emptyDatabase(): Promise<string> {
  const name = `chinook_empty_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new pg.Client({ connectionString: postgresAdminUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = databaseUrl(postgresAdminUrl(), name);
  created.push({
    name,
    url,
    drop: async () => {
      const client = new pg.Client({ connectionString: postgresAdminUrl() });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  });
  return url;
}

function sqliteCounts(): Record<string, number> {
  const source = new SqliteDatabase(CHINOOK_SOURCE, { readonly: true, fileMustExist: true });
  try {
    return Object.fromEntries(
      CHINOOK_TABLE_NAMES.map((table) => [table, Number((source.prepare(`SELECT count(*) AS n FROM "${table}"`).get() as { n: number }).n)]),
    );
  } finally {
    source.close();
  }
}

describe("loading Chinook into PostgreSQL", () => {
  it("creates all eleven tables with every row of the SQLite file, then moves each sequence past the largest id", async () => {
    const { db } = open(await emptyDatabase());

    expect(await chinookLoaded(db)).toBe(false);
    expect(await loadChinook(db, CHINOOK_SOURCE)).toBe(true);

    expect(await chinookLoaded(db)).toBe(true);
    const counts: Record<string, number> = {};
    for (const table of CHINOOK_TABLE_NAMES) {
      const { rows } = await sql<{ n: bigint }>`SELECT count(*) AS n FROM ${sql.table(table)}`.execute(db);
      counts[table] = Number(rows[0]?.n);
    }
    expect(counts).toEqual(sqliteCounts());
    expect(Object.keys(counts)).toHaveLength(11);

    const { rows } = await sql<{ CustomerId: bigint }>`INSERT INTO customers ("FirstName", "LastName", "Email") VALUES ('A', 'B', 'a@b.c') RETURNING "CustomerId"`.execute(db);
    expect(rows[0]?.CustomerId).toBe(60n);
    const invoice = await sql<{ InvoiceId: bigint }>`INSERT INTO invoices ("CustomerId", "InvoiceDate", "Total") VALUES (1, '2020-01-01 00:00:00', 1) RETURNING "InvoiceId"`.execute(db);
    expect(invoice.rows[0]?.InvoiceId).toBe(413n);
  });

  it("keeps Chinook's values: names with accents, money as exact text, dates as Chinook's text", async () => {
    const { db } = await fresh();

    const customer = await db.selectFrom("customers").select(["FirstName", "LastName", "SupportRepId"]).where("CustomerId", "=", 1n).executeTakeFirstOrThrow();
    expect(customer).toEqual({ FirstName: "Luís", LastName: "Gonçalves", SupportRepId: 3n });
    const invoice = await db.selectFrom("invoices").select(["InvoiceDate", "Total"]).where("InvoiceId", "=", 1n).executeTakeFirstOrThrow();
    expect(invoice).toEqual({ InvoiceDate: "2009-01-01 00:00:00", Total: "1.98" });
    const { rows } = await sql<{ sum: string }>`SELECT sum("UnitPrice" * "Quantity")::text AS sum FROM invoice_items`.execute(db);
    expect(rows[0]?.sum).toBe("2328.60");
  });

  it("loads nothing the second time", async () => {
    const { db } = open(await emptyDatabase());
    await loadChinook(db, CHINOOK_SOURCE);

    expect(await loadChinook(db, CHINOOK_SOURCE)).toBe(false);
    const { rows } = await sql<{ n: bigint }>`SELECT count(*) AS n FROM customers`.execute(db);
    expect(rows[0]?.n).toBe(59n);
  });

  it("loads once when two processes start at once", async () => {
    const url = await emptyDatabase();
    const [first, second] = [open(url), open(url)];

    const loaded = await Promise.all([loadChinook(first.db, CHINOOK_SOURCE), loadChinook(second.db, CHINOOK_SOURCE)]);

    expect(loaded.sort()).toEqual([false, true]);
    const { rows } = await sql<{ n: bigint }>`SELECT count(*) AS n FROM tracks`.execute(first.db);
    expect(rows[0]?.n).toBe(3503n);
  });
});

describe("starting on an empty PostgreSQL database", () => {
  it("loads Chinook and migrates without the statement timeout that calls get", async () => {
    const url = await emptyDatabase();
    // Loading Chinook's 2,240 invoice lines and building the indexes take far longer than 1 ms. The
    // service's own first queries may well take longer too, so whether it then serves is not the point.
    const server = await startTestServer({ DATABASE_URL: url, PG_STATEMENT_TIMEOUT_MS: "1" }).catch(() => undefined);
    if (server !== undefined) opened.push({ close: () => server.stop() });

    const { db } = open(url);
    const loaded = await sql<{ n: bigint }>`SELECT count(*) AS n FROM invoice_items`.execute(db);
    expect(loaded.rows[0]?.n).toBe(2240n);
    const pending = (await migrationStatus(db, POSTGRES_MIGRATIONS)).filter((migration) => migration.appliedAt === undefined);
    expect(pending).toEqual([]);
  });
});
