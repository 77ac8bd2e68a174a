/**
 * Adds realistic synthetic customers to a database through the domain's
 * batch path (Customers.batchCreate, one transaction per chunk), so
 * what it measures is what the service's BatchCreateCustomers costs.
 *
 *   npm run db:synth -- --customers N [--database PATH | --database-url URL] [--seed S]
 *
 * As the service does, it writes to PostgreSQL at `--database-url` (else
 * DATABASE_URL), loading Chinook into it when missing, or to the SQLite
 * file at `--database` (else DATABASE_PATH, else data/chinook.db), created
 * from Chinook when missing; then migrates it. Prints one JSON line.
 */
import { existsSync } from "node:fs";
import { ConfigError, loadConfig } from "../src/config";
import type { CustomerStore } from "../src/customers/store";
import { SqliteCustomerStore } from "../src/customers/stores/sqlite";
import { PostgresCustomerStore } from "../src/customers/stores/postgres";
import { ensureDatabase, type ChinookOrigin } from "../src/db/bootstrap";
import { migrateToLatest, POSTGRES_MIGRATIONS } from "../src/db/migrate";
import { ensureChinookLoaded } from "../src/db/postgres/chinook";
import { openPostgres, type PostgresDatabase } from "../src/db/postgres/connection";
import { postgresTransactions } from "../src/db/postgres/transactions";
import { isPostgresUrl, redactedUrl } from "../src/db/postgres/url";
import { openDatabase, type Database } from "../src/db/sqlite/connection";
import { sqliteTransactions } from "../src/db/sqlite/transactions";
import type { Executor } from "../src/db/transactions";
import { asksForHelp } from "../src/usage";
import { Flags, UsageError } from "./flags";
import { CHINOOK_SOURCE } from "./paths";
import { loadSyntheticCustomers } from "./synthetic-customers";

export { CHUNK_SIZE } from "./synthetic-customers";

const PROGRESS_EVERY = 50_000;
/**
 * The WAL is copied back into the database once per this many customers
 * rather than at SQLite's default of every 1,000 dirty pages: an index page
 * dirtied by many chunks is then written back once, not once per chunk.
 */
const CHECKPOINT_EVERY = 50_000;

/** Where the customers go: a SQLite file, or a PostgreSQL database. */
export type SynthTarget = { engine: "sqlite"; path: string } | { engine: "postgres"; url: string };

export interface SynthOptions {
  target: SynthTarget;
  customers: number;
  seed: number;
  /** Progress lines go here; silent when undefined. */
  progress?: (line: string) => void;
}

export interface SynthReport {
  engine: SynthTarget["engine"];
  /** The SQLite file, or the PostgreSQL URL with its password masked. */
  database: string;
  customers: number;
  seconds: number;
  rowsPerSecond: number;
  /** Where the time went: building messages, the domain's batchCreate… */
  secondsGenerating: number;
  secondsInBatchCreate: number;
  /** …SQLite's WAL checkpoints, and refreshing the planner's statistics at the end. */
  secondsCheckpointing: number;
  secondsAnalyzing: number;
}

class Stopwatch {
  private readonly totals = new Map<string, number>();

  async time<T>(label: string, work: () => Promise<T> | T): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.totals.set(label, this.seconds(label) + (performance.now() - started) / 1000);
    }
  }

  seconds(label: string): number {
    return this.totals.get(label) ?? 0;
  }
}

/** An engine's part in a load: where the customers go, and its upkeep between chunks and after them. */
interface EngineLoad {
  db: Executor;
  store: CustomerStore;
  /** After each chunk, with how many customers are in. */
  afterChunk(done: number, stopwatch: Stopwatch): Promise<void>;
  /** Leaves the database settled, its statistics describing it. */
  finish(stopwatch: Stopwatch): Promise<void>;
}

export function synthesize(options: SynthOptions): Promise<SynthReport> {
  const { target } = options;
  return target.engine === "postgres" ? intoPostgres(target.url, options) : intoSqlite(target.path, options);
}

async function intoSqlite(path: string, options: SynthOptions): Promise<SynthReport> {
  const database = openDatabase(path);
  try {
    await migrateToLatest(database.db);
    return await insertCustomers(sqliteLoad(database), options, path);
  } finally {
    await database.close();
  }
}

/** As the service starts on PostgreSQL: Chinook loaded when missing, then migrated. */
async function intoPostgres(url: string, options: SynthOptions): Promise<SynthReport> {
  // Loading and migrating a large table outlast any statement timeout.
  const database = openPostgres(url, { poolSize: 1, statementTimeoutMs: 0 });
  try {
    if (await ensureChinookLoaded(database.db, chinookOrigin())) options.progress?.(`loaded Chinook into ${database.redactedUrl}`);
    await migrateToLatest(database.db, POSTGRES_MIGRATIONS);
    return await insertCustomers(postgresLoad(database), options, database.redactedUrl);
  } finally {
    await database.close();
  }
}

function sqliteLoad(database: Database): EngineLoad {
  // This connection checkpoints on its own schedule (CHECKPOINT_EVERY), not every 1,000 dirty pages.
  database.sqlite.pragma("wal_autocheckpoint = 0");
  const checkpoint = () => database.sqlite.pragma("wal_checkpoint(TRUNCATE)");
  return {
    db: database.db,
    store: new SqliteCustomerStore(database.db, sqliteTransactions()),
    afterChunk: async (done, stopwatch) => {
      if (done % CHECKPOINT_EVERY === 0) await stopwatch.time("checkpoint", checkpoint);
    },
    finish: async (stopwatch) => {
      // Leave one self-contained file behind, ready to be copied…
      await stopwatch.time("checkpoint", checkpoint);
      // …with statistics that describe it: a table grown this much plans badly on the old ones.
      await stopwatch.time("analyze", () => database.sqlite.exec("ANALYZE"));
    },
  };
}

function postgresLoad(database: PostgresDatabase): EngineLoad {
  return {
    db: database.db,
    store: new PostgresCustomerStore(database.db, postgresTransactions()),
    afterChunk: async () => undefined,
    // Statistics for the planner, and the visibility map and hint bits set now rather than by
    // the first reads of each copy (index-only scans, and reads that write): autovacuum's work, done.
    finish: async (stopwatch) => {
      await stopwatch.time("analyze", () => database.pool.query("VACUUM (ANALYZE)"));
    },
  };
}

async function insertCustomers(engine: EngineLoad, options: SynthOptions, database: string): Promise<SynthReport> {
  const stopwatch = new Stopwatch();
  const firstSerial = await nextCustomerId(engine.db);
  const started = performance.now();
  await loadSyntheticCustomers({
    store: engine.store,
    customers: options.customers,
    seed: options.seed,
    firstSerial,
    timed: (step, work) => stopwatch.time(step, work),
    afterChunk: async (done) => {
      await engine.afterChunk(done, stopwatch);
      if (done % PROGRESS_EVERY === 0) options.progress?.(progressLine(done, started));
    },
  });
  await engine.finish(stopwatch);
  const seconds = (performance.now() - started) / 1000;
  return {
    engine: options.target.engine,
    database,
    customers: options.customers,
    seconds,
    rowsPerSecond: options.customers / seconds,
    secondsGenerating: stopwatch.seconds("generate"),
    secondsInBatchCreate: stopwatch.seconds("batchCreate"),
    secondsCheckpointing: stopwatch.seconds("checkpoint"),
    secondsAnalyzing: stopwatch.seconds("analyze"),
  };
}

async function nextCustomerId(db: Executor): Promise<number> {
  const { last } = await db
    .selectFrom("customers")
    .select((eb) => eb.fn.max<bigint | null>("CustomerId").as("last"))
    .executeTakeFirstOrThrow();
  return Number(last ?? 0n) + 1;
}

function progressLine(done: number, started: number): string {
  const seconds = (performance.now() - started) / 1000;
  return `${done.toLocaleString("en-US")} customers, ${Math.round(done / seconds).toLocaleString("en-US")} rows/s`;
}

/** Chinook from CHINOOK_DB, else the copy the tests use when there is one, else a download. */
function chinookOrigin(): ChinookOrigin {
  const { chinook } = loadConfig();
  return { ...chinook, sourcePath: chinook.sourcePath ?? (existsSync(CHINOOK_SOURCE) ? CHINOOK_SOURCE : undefined) };
}

async function sqliteReady(databasePath: string): Promise<void> {
  await ensureDatabase({ ...chinookOrigin(), databasePath });
}

const USAGE = "usage: npm run db:synth -- --customers N [--database PATH | --database-url URL] [--seed N]";

/** The database the flags name, else the one the service's configuration does. */
function targetOf(flags: Flags): SynthTarget {
  const path = flags.optionalString("database");
  const url = flags.optionalString("database-url");
  if (path !== undefined && url !== undefined) throw new UsageError("pass --database PATH or --database-url URL, not both");
  if (path !== undefined) return { engine: "sqlite", path };
  if (url !== undefined) {
    if (!isPostgresUrl(url)) throw new UsageError(`--database-url must be a postgres:// or postgresql:// URL, got "${redactedUrl(url)}"`);
    return { engine: "postgres", url };
  }
  const { database } = loadConfig();
  return database.engine === "postgres" ? { engine: "postgres", url: database.url } : { engine: "sqlite", path: database.path };
}

async function main(): Promise<void> {
  if (asksForHelp(process.argv.slice(2))) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const flags = new Flags(process.argv.slice(2), ["customers", "database", "database-url", "seed"]);
  const customers = flags.integer("customers", 0, 1);
  if (customers === 0) throw new UsageError("--customers N is required");
  const target = targetOf(flags);
  if (target.engine === "sqlite") await sqliteReady(target.path);
  const report = await synthesize({
    target,
    customers,
    seed: flags.integer("seed", 1),
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  process.stderr.write(
    `added ${customers.toLocaleString("en-US")} customers in ${report.seconds.toFixed(1)} s: ` +
      `${Math.round(report.rowsPerSecond).toLocaleString("en-US")} rows/s ` +
      `(generate ${report.secondsGenerating.toFixed(1)} s, batchCreate ${report.secondsInBatchCreate.toFixed(1)} s, ` +
      `checkpoint ${report.secondsCheckpointing.toFixed(1)} s, analyze ${report.secondsAnalyzing.toFixed(1)} s)\n`,
  );
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    // DATABASE_URL and the other settings are part of the command line.
    if (error instanceof UsageError || error instanceof ConfigError) {
      process.stderr.write(`db:synth: ${error.message}\n${USAGE}\n`);
      process.exit(2);
    }
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`db:synth failed: ${detail}\n`);
    process.exit(1);
  });
}
