/**
 * The committed SQL of the stores (src/customers/stores/*.sql,
 * src/invoices/stores/*.sql): the statements each engine's driver runs for
 * the representative calls of calls.ts, on a fresh Chinook, in order,
 * BEGIN and COMMIT included. `npm run sql` writes them (cli.ts);
 * test/store-queries.test.ts generates them again and compares.
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Registry } from "prom-client";
import type { CustomerStore } from "../../src/customers/store";
import { PostgresCustomerStore } from "../../src/customers/stores/postgres";
import { SqliteCustomerStore } from "../../src/customers/stores/sqlite";
import { migrateToLatest, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS } from "../../src/db/migrate";
import { loadChinook } from "../../src/db/postgres/chinook";
import { openPostgres } from "../../src/db/postgres/connection";
import { postgresTransactions } from "../../src/db/postgres/transactions";
import { openDatabase } from "../../src/db/sqlite/connection";
import { GroupCommit } from "../../src/db/sqlite/group-commit";
import { sqliteTransactions } from "../../src/db/sqlite/transactions";
import type { Executor } from "../../src/db/transactions";
import type { InvoiceStore } from "../../src/invoices/store";
import { PostgresInvoiceStore } from "../../src/invoices/stores/postgres";
import { SqliteInvoiceStore } from "../../src/invoices/stores/sqlite";
import { CUSTOMER_CALLS, INVOICE_CALLS, type StoreCall, type StoreCalls } from "./calls";
import { kyselyStatementLog, recordPostgresStatements, recordSqliteStatements, unrecorded, type StatementLog } from "./capture";
import { formatSql } from "./format";

export interface StoreSqlFile {
  /** Relative to the repository's root, `/`-separated. */
  path: string;
  content: string;
}

export interface StoreSqlSources {
  /** The pristine Chinook SQLite file: copied for SQLite, its rows loaded into PostgreSQL; never written. */
  chinookPath: string;
  /** A PostgreSQL database that is empty, or holds Chinook as loadChinook leaves it; it gets written to. */
  postgresUrl: string;
}

/** A fresh, migrated Chinook on one engine, with its stores and a log of what its driver runs. */
interface RecordingEngine {
  name: "sqlite" | "postgres";
  /** How the engine's statements are shown, for the files' headers. */
  describe: string;
  db: Executor;
  /** What the driver ran: what the files show. */
  statements: StatementLog;
  /** What Kysely's log hook saw: every one of them must be among the driver's. */
  kyselyStatements: StatementLog;
  customers: CustomerStore;
  invoices: InvoiceStore;
  close(): Promise<void>;
}

/** Every file's content, generated afresh, SQLite's then PostgreSQL's. */
export async function generateStoreSql(sources: StoreSqlSources): Promise<StoreSqlFile[]> {
  const files: StoreSqlFile[] = [];
  for (const open of [openSqlite, openPostgresEngine]) {
    const engine = await open(sources);
    try {
      files.push(await recordFile(`src/customers/stores/${engine.name}.sql`, engine, engine.customers, CUSTOMER_CALLS));
      files.push(await recordFile(`src/invoices/stores/${engine.name}.sql`, engine, engine.invoices, INVOICE_CALLS));
    } finally {
      await engine.close();
    }
  }
  return files;
}

/** The stores as src/main.ts builds them: writes group-committed. */
async function openSqlite({ chinookPath }: StoreSqlSources): Promise<RecordingEngine> {
  const directory = mkdtempSync(path.join(tmpdir(), "chinook-store-sql-"));
  const file = path.join(directory, "chinook.db");
  copyFileSync(chinookPath, file);
  const kysely = kyselyStatementLog();
  const database = openDatabase(file, { log: kysely.log });
  const statements = recordSqliteStatements(database.sqlite);
  const close = async () => {
    await database.close();
    rmSync(directory, { recursive: true, force: true });
  };
  await orClosing(close, () => migrateToLatest(database.db, SQLITE_MIGRATIONS));
  const transactions = sqliteTransactions(new GroupCommit(database.db, { registry: new Registry() }));
  return {
    name: "sqlite",
    describe: "as better-sqlite3 ran it (`?` marks a parameter)",
    db: database.db,
    statements,
    kyselyStatements: kysely.statements,
    customers: new SqliteCustomerStore(database.db, transactions),
    invoices: new SqliteInvoiceStore(database.db, transactions),
    close,
  };
}

async function openPostgresEngine({ chinookPath, postgresUrl }: StoreSqlSources): Promise<RecordingEngine> {
  const kysely = kyselyStatementLog();
  const database = openPostgres(postgresUrl, { poolSize: 2, log: kysely.log });
  const statements = recordPostgresStatements(database.pool);
  const close = () => database.close();
  await orClosing(close, async () => {
    await loadChinook(database.db, chinookPath);
    await migrateToLatest(database.db, POSTGRES_MIGRATIONS);
  });
  const transactions = postgresTransactions();
  return {
    name: "postgres",
    describe: "as pg sent it (`$1`, `$2`… mark parameters)",
    db: database.db,
    statements,
    kyselyStatements: kysely.statements,
    customers: new PostgresCustomerStore(database.db, transactions),
    invoices: new PostgresInvoiceStore(database.db, transactions),
    close,
  };
}

async function orClosing(close: () => Promise<void>, work: () => Promise<unknown>): Promise<void> {
  try {
    await work();
  } catch (error) {
    await close();
    throw error;
  }
}

async function recordFile<Store extends object>(
  filePath: string,
  engine: RecordingEngine,
  store: Store,
  calls: StoreCalls<Store>,
): Promise<StoreSqlFile> {
  const className = store.constructor.name;
  const entries = [header(className, engine)];
  for (const [method, methodCalls] of Object.entries(calls as Record<string, ReadonlyArray<StoreCall<Store>>>)) {
    for (const call of methodCalls) {
      await call.setup?.(engine.db);
      engine.statements.take();
      engine.kyselyStatements.take();
      await call.run(store);
      const name = `${className}.${method}`;
      entries.push(entry(name, call.variant, ranBoth(name, engine)));
    }
  }
  return { path: filePath, content: `${entries.join("\n\n")}\n` };
}

/** What the driver ran, after checking it ran everything Kysely says it did. */
function ranBoth(name: string, engine: RecordingEngine): string[] {
  const ran = engine.statements.take();
  const [missed] = unrecorded(ran, engine.kyselyStatements.take());
  if (missed !== undefined) throw new Error(`${name}: Kysely ran a statement the ${engine.name} driver's record lacks: ${missed}`);
  return ran;
}

function header(className: string, engine: RecordingEngine): string {
  return [
    `-- The statements ${className} runs for a representative call of each method`,
    `-- (tools/store-sql/calls.ts) on a fresh Chinook, in order, ${engine.describe}.`,
    "-- Generated by `npm run sql`: do not edit. test/store-queries.test.ts fails until it is current.",
  ].join("\n");
}

function entry(name: string, variant: string | undefined, statements: readonly string[]): string {
  const title = `-- ${name}${variant === undefined ? "" : `: ${variant}`}`;
  if (statements.length === 0) return `${title}\n-- (no statement)`;
  return [title, ...statements.map((statement) => `${formatSql(statement)};`)].join("\n");
}
