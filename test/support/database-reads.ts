import { Kysely, SqliteDialect, sql, type RawBuilder } from "kysely";
import { openPostgres } from "../../src/db/postgres/connection";
import type { Database } from "../../src/db/schema";
import { SqliteDatabase } from "../../src/db/sqlite/driver";
import type { App } from "../../src/main";
import type { TestServer } from "./server";

/**
 * A test's own reads of the database a test server serves from, on either
 * engine. Both engines are a Kysely<Database>: a query built with Kysely's
 * builder, or written with sql.ref for its mixed-case names, compiles for each
 * (PostgreSQL needs them quoted). Both read integers as bigint; PostgreSQL
 * reads numeric as exact text and SQLite money as REAL, so read money as
 * cents (centsOf).
 */
export function databaseOf(app: App): Kysely<Database> {
  return app.storage.database.db;
}

/**
 * A money column in integer cents, rounded by the database itself, never by
 * the service's money code. `column` may be qualified ("invoices.Total").
 */
export function centsOf(column: string): RawBuilder<bigint> {
  return sql<bigint>`CAST(ROUND(${sql.ref(column)} * 100) AS BIGINT)`;
}

/** A sum of integers, as bigint on both engines (PostgreSQL's sum of bigint is numeric). */
export function bigintSum(expression: RawBuilder<bigint>): RawBuilder<bigint | null> {
  return sql<bigint | null>`CAST(SUM(${expression}) AS BIGINT)`;
}

export interface CommittedReader {
  readonly db: Kysely<Database>;
  close(): Promise<void>;
}

/**
 * Connections of the test's own to the server's database: they see only what
 * has been committed, whatever the server's connections are in the middle of.
 * On SQLite a read-only handle; on PostgreSQL a small pool, which may also
 * hold transactions (locks) of the test's own.
 */
export function openCommittedReader(server: TestServer): CommittedReader {
  const { database } = server.config;
  if (database.engine === "postgres") {
    const postgres = openPostgres(database.url, { poolSize: 2 });
    return { db: postgres.db, close: () => postgres.close() };
  }
  const sqlite = new SqliteDatabase(database.path, { readonly: true });
  sqlite.defaultSafeIntegers(true);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  return {
    db,
    close: async () => {
      await db.destroy();
      if (sqlite.open) sqlite.close();
    },
  };
}
