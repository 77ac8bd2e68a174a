/**
 * A fresh, migrated Chinook database on each engine, for store tests that run
 * the same assertions on SQLite and on PostgreSQL (see invoice-engines.ts and
 * customers.ts). Both engines are a Kysely<Database>, so a test's own reads
 * and writes built with Kysely's builder (or `sql` with sql.ref) run on
 * either; PostgreSQL reads int8 as bigint, numeric as exact text,
 * timestamptz as ISO millisecond text and jsonb as its own spelling of the
 * JSON (src/db/postgres/connection.ts).
 */
import { Kysely, PostgresDialect, SqliteDialect, type CompiledQuery, type Dialect } from "kysely";
import { openPostgres } from "../../src/db/postgres/connection";
import { postgresTransactions } from "../../src/db/postgres/transactions";
import type { Database } from "../../src/db/schema";
import { sqliteTransactions } from "../../src/db/sqlite/transactions";
import type { Executor, Transactions } from "../../src/db/transactions";
import { freshDatabase, type TestDatabase } from "./database";
import { freshPostgresDatabase } from "./postgres";

export type EngineName = "sqlite" | "postgres";

/** Queries a Kysely ran, as compiled for its engine. */
export interface QueryLog {
  readonly db: Executor;
  readonly queries: CompiledQuery[];
}

/** One engine's fresh Chinook database, of a test's (or a describe's) own. */
export interface EngineDatabase {
  readonly name: EngineName;
  /** The database, for the stores and for the tests' own reads and writes. */
  readonly db: Executor;
  /** The engine's units of work, which its stores take. */
  readonly transactions: Transactions;
  /**
   * Another Kysely on the same connections, logging every query it (or a
   * transaction it starts) runs, precompiled ones included. Never destroyed:
   * that would close the connections `db` uses.
   */
  withQueryLog(): QueryLog;
  dispose(): Promise<void>;
}

export interface SqliteEngineDatabase extends EngineDatabase {
  readonly name: "sqlite";
  /** The raw handle and its file, for what only SQLite has (pragmas, EXPLAIN QUERY PLAN, another connection). */
  readonly sqlite: TestDatabase;
}

export interface EngineSetup<D extends EngineDatabase = EngineDatabase> {
  readonly name: EngineName;
  open(): Promise<D>;
}

function loggingKysely(dialect: Dialect): QueryLog {
  const queries: CompiledQuery[] = [];
  const db = new Kysely<Database>({
    dialect,
    log: (event) => {
      if (event.level === "query") queries.push(event.query);
    },
  });
  return { db, queries };
}

/** A private copy of Chinook's SQLite file, migrated (freshDatabase). */
export const sqliteDatabases: EngineSetup<SqliteEngineDatabase> = {
  name: "sqlite",
  async open() {
    const sqlite = await freshDatabase();
    return {
      name: "sqlite",
      db: sqlite.db,
      transactions: sqliteTransactions(),
      sqlite,
      withQueryLog: () => loggingKysely(new SqliteDialect({ database: sqlite.sqlite })),
      dispose: () => sqlite.dispose(),
    };
  },
};

/** A clone of the migrated Chinook template on the run's PostgreSQL server (freshPostgresDatabase). */
export const postgresDatabases: EngineSetup = {
  name: "postgres",
  async open() {
    const fresh = await freshPostgresDatabase();
    const postgres = openPostgres(fresh.url);
    return {
      name: "postgres",
      db: postgres.db,
      transactions: postgresTransactions(),
      withQueryLog: () => loggingKysely(new PostgresDialect({ pool: postgres.pool })),
      dispose: async () => {
        await postgres.close();
        await fresh.drop();
      },
    };
  },
};

/** Every engine, for describe.each: "$name" names the engine. */
export const ENGINE_DATABASES: readonly EngineSetup[] = [sqliteDatabases, postgresDatabases];
