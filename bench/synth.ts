/**
 * Adds realistic synthetic customers to a database through the domain's
 * batch path (Customers.batchCreate, one transaction per chunk), so
 * what it measures is what the service's BatchCreateCustomers costs.
 *
 *   npm run db:synth -- --customers N [--database PATH] [--seed S]
 *
 * The database defaults to DATABASE_PATH (else data/chinook.db) and is
 * created from Chinook when missing, then migrated. Prints one JSON line.
 */
import { existsSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { CustomerSchema, type Customer } from "../gen/chinook/v1/customer_pb";
import { loadConfig } from "../src/config";
import { ensureDatabase } from "../src/db/bootstrap";
import { openDatabase, type Database } from "../src/db/sqlite/connection";
import { migrateToLatest } from "../src/db/migrate";
import type { Executor } from "../src/db/transactions";
import { Customers } from "../src/customers/customers";
import { SqliteCustomerStore } from "../src/customers/stores/sqlite";
import { sqliteTransactions } from "../src/db/sqlite/transactions";
import { Flags, UsageError } from "./flags";
import { CHINOOK_SOURCE } from "./paths";
import { Random } from "./random";
import { FIRST_CREATED, LAST_UPDATED, syntheticCustomer } from "./synthetic-customers";

export const CHUNK_SIZE = 1000;
const PROGRESS_EVERY = 50_000;
/**
 * The WAL is copied back into the database once per this many customers
 * rather than at SQLite's default of every 1,000 dirty pages: an index page
 * dirtied by many chunks is then written back once, not once per chunk.
 */
const CHECKPOINT_EVERY = 50_000;

export interface SynthOptions {
  databasePath: string;
  customers: number;
  seed: number;
  /** Progress lines go here; silent when undefined. */
  progress?: (line: string) => void;
}

export interface SynthReport {
  database: string;
  customers: number;
  seconds: number;
  rowsPerSecond: number;
  /** Where the time went: building messages, the domain's batchCreate… */
  secondsGenerating: number;
  secondsInBatchCreate: number;
  /** …the WAL checkpoints, and refreshing the planner's statistics at the end. */
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

export async function synthesize(options: SynthOptions): Promise<SynthReport> {
  const database = openDatabase(options.databasePath);
  try {
    await migrateToLatest(database.db);
    return await insertCustomers(database, options);
  } finally {
    await database.close();
  }
}

async function insertCustomers(database: Database, options: SynthOptions): Promise<SynthReport> {
  // This connection checkpoints on its own schedule (CHECKPOINT_EVERY), not every 1,000 dirty pages.
  database.sqlite.pragma("wal_autocheckpoint = 0");
  const random = new Random(options.seed);
  const stopwatch = new Stopwatch();
  const firstSerial = await nextCustomerId(database.db);
  const history = creationTimes(options.customers);
  const started = performance.now();
  for (let done = 0; done < options.customers; ) {
    const size = Math.min(CHUNK_SIZE, options.customers - done);
    const chunk = await stopwatch.time("generate", () => syntheticChunk(random, firstSerial + done, history, done, size));
    // The domain stamps each customer with its creation time, as if created then.
    const customers = new Customers(new SqliteCustomerStore(database.db, sqliteTransactions()), { clock: clockOver(chunk.createdAt) });
    await stopwatch.time("batchCreate", () => customers.batchCreate(chunk.requests));
    done += size;
    if (done % CHECKPOINT_EVERY === 0) await stopwatch.time("checkpoint", () => checkpoint(database));
    if (done % PROGRESS_EVERY === 0) options.progress?.(progressLine(done, started));
  }
  // Leave one self-contained file behind, ready to be copied…
  await stopwatch.time("checkpoint", () => checkpoint(database));
  // …with statistics that describe it: a table grown this much plans badly on the old ones.
  await stopwatch.time("analyze", () => database.sqlite.exec("ANALYZE"));
  const seconds = (performance.now() - started) / 1000;
  return {
    database: options.databasePath,
    customers: options.customers,
    seconds,
    rowsPerSecond: options.customers / seconds,
    secondsGenerating: stopwatch.seconds("generate"),
    secondsInBatchCreate: stopwatch.seconds("batchCreate"),
    secondsCheckpointing: stopwatch.seconds("checkpoint"),
    secondsAnalyzing: stopwatch.seconds("analyze"),
  };
}

function checkpoint(database: Database): void {
  database.sqlite.pragma("wal_checkpoint(TRUNCATE)");
}

interface Chunk {
  requests: Array<{ customer: Customer }>;
  createdAt: Date[];
}

/** Creation times spread evenly over the synthetic decade, growing with the customer id. */
function creationTimes(customers: number): (index: number) => Date {
  const step = (LAST_UPDATED - FIRST_CREATED) / customers;
  return (index) => new Date(FIRST_CREATED + Math.floor(index * step));
}

function syntheticChunk(
  random: Random,
  firstSerial: number,
  history: (index: number) => Date,
  done: number,
  size: number,
): Chunk {
  const synthetic = Array.from({ length: size }, (_, index) =>
    syntheticCustomer(random, firstSerial + index, history(done + index)),
  );
  return {
    requests: synthetic.map(({ customer }) => ({ customer: create(CustomerSchema, customer) })),
    createdAt: synthetic.map(({ createdAt }) => createdAt),
  };
}

/** A clock that tells each time of `times` once, in order: batchCreate reads it once per customer. */
function clockOver(times: readonly Date[]): () => Date {
  let next = 0;
  return () => {
    const time = times[next++];
    if (time === undefined) throw new Error("the domain read the clock more often than it created customers");
    return time;
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

async function databaseReady(databasePath: string): Promise<void> {
  const config = loadConfig();
  const sourcePath = config.chinook.sourcePath ?? (existsSync(CHINOOK_SOURCE) ? CHINOOK_SOURCE : undefined);
  await ensureDatabase({ ...config.chinook, databasePath, sourcePath });
}

const USAGE = "usage: npm run db:synth -- --customers N [--database PATH] [--seed N]";

/** DATABASE_PATH, as the service reads it; db:synth does not write to PostgreSQL yet. */
function configuredSqlitePath(): string {
  const { database } = loadConfig();
  if (database.engine !== "sqlite") throw new UsageError("db:synth writes to SQLite only: pass --database PATH, or unset DATABASE_URL");
  return database.path;
}

async function main(): Promise<void> {
  const flags = new Flags(process.argv.slice(2), ["customers", "database", "seed"]);
  const customers = flags.integer("customers", 0, 1);
  if (customers === 0) throw new UsageError("--customers N is required");
  const databasePath = flags.optionalString("database") ?? configuredSqlitePath();
  await databaseReady(databasePath);
  const report = await synthesize({
    databasePath,
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
    if (error instanceof UsageError) {
      process.stderr.write(`db:synth: ${error.message}\n${USAGE}\n`);
      process.exit(2);
    }
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`db:synth failed: ${detail}\n`);
    process.exit(1);
  });
}
