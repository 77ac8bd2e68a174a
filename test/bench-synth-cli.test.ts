/**
 * db:synth's command line: a wrong one is said in one line with the usage
 * (exit 2), never as a stack trace; a right one adds the same customers on
 * either engine.
 */
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { sql } from "kysely";
import type { Executor } from "../src/db/transactions";
import { openPostgres } from "../src/db/postgres/connection";
import { redactedUrl } from "../src/db/postgres/url";
import { openDatabase } from "../src/db/sqlite/connection";
import { CHINOOK_SOURCE, copyChinook } from "./support/database";
import { freshPostgresDatabase } from "./support/postgres";

const SYNTH = path.join(__dirname, "..", "dist", "bench", "synth.js");
const CHINOOK_CUSTOMERS = 59n;

function synth(argv: readonly string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, CHINOOK_DB: CHINOOK_SOURCE };
  delete env.DATABASE_URL;
  delete env.DATABASE_PATH;
  return spawnSync(process.execPath, [SYNTH, ...argv], { encoding: "utf8", env });
}

test.each([
  [[], "--customers N is required"],
  [["--customers", "0"], "--customers must be a number ≥ 1"],
  [["--customers", "10", "--bogus"], "unknown flag --bogus"],
  [["customers"], 'unexpected argument "customers"'],
  [["--customers", "10", "--database", "x.db", "--database-url", "postgres://db/x"], "--database PATH or --database-url URL, not both"],
  [["--customers", "10", "--database-url", "mysql://user:secret@db/x"], '--database-url must be a postgres:// or postgresql:// URL, got "mysql://user:***@db/x"'],
])("db:synth %j exits 2 saying %j and how to call it", (argv, reason) => {
  const run = synth(argv);

  expect(run.status).toBe(2);
  expect(run.stderr.trim().split("\n")).toEqual([
    expect.stringContaining(reason),
    expect.stringMatching(/^usage: npm run db:synth -- --customers N/),
  ]);
  expect(run.stderr).not.toMatch(/\n\s+at /);
  expect(run.stderr).not.toContain("secret");
});

type AddedCustomer = Awaited<ReturnType<typeof addedCustomers>>[number];

/** What db:synth decided of each customer it added, as each engine reads it back. */
async function addedCustomers(db: Executor) {
  const rows = await db
    .selectFrom("customers")
    .select(["FirstName", "LastName", "Email", "Country", "status", "data", "created_at", "updated_at"])
    .where("CustomerId", ">", CHINOOK_CUSTOMERS)
    .orderBy("CustomerId")
    .execute();
  // jsonb keeps its own spelling of the profile.
  return rows.map((row) => ({ ...row, data: row.data === null ? null : (JSON.parse(row.data) as unknown) }));
}

/** Empties the database, then has db:synth load Chinook into it and add customers. */
async function synthIntoEmptyPostgres(url: string, argv: readonly string[]): Promise<AddedCustomer[]> {
  const connection = openPostgres(url, { poolSize: 1 });
  try {
    await sql`DROP SCHEMA public CASCADE`.execute(connection.db);
    await sql`CREATE SCHEMA public`.execute(connection.db);

    const run = synth([...argv, "--database-url", url]);

    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: expect.any(String) });
    expect(run.stderr).toContain(`loaded Chinook into ${redactedUrl(url)}`);
    expect(JSON.parse(run.stdout)).toMatchObject({ engine: "postgres", database: redactedUrl(url) });
    const analyzed = await sql<{ analyzed: boolean }>`
      SELECT last_analyze IS NOT NULL AS analyzed FROM pg_stat_user_tables WHERE relname = 'customers'`.execute(connection.db);
    expect(analyzed.rows).toEqual([{ analyzed: true }]);
    return await addedCustomers(connection.db);
  } finally {
    await connection.close();
  }
}

async function synthIntoSqlite(file: string, argv: readonly string[]): Promise<AddedCustomer[]> {
  const run = synth([...argv, "--database", file]);

  expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: expect.any(String) });
  expect(JSON.parse(run.stdout)).toMatchObject({ engine: "sqlite", database: file });
  const database = openDatabase(file);
  try {
    return await addedCustomers(database.db);
  } finally {
    await database.close();
  }
}

it("loads Chinook into an empty PostgreSQL database, migrates it, and adds the customers it adds to SQLite", async () => {
  const argv = ["--customers", "25", "--seed", "7"];
  const postgres = await freshPostgresDatabase();
  const sqlite = copyChinook();
  try {
    const onPostgres = await synthIntoEmptyPostgres(postgres.url, argv);
    const onSqlite = await synthIntoSqlite(sqlite.file, argv);

    expect(onPostgres).toHaveLength(25);
    expect(onPostgres).toEqual(onSqlite);
  } finally {
    await postgres.drop();
    rmSync(sqlite.dir, { recursive: true, force: true });
  }
});
