/**
 * Adds realistic synthetic customers to a database through the repository's
 * batch path (CustomerRepository.batchCreate, one transaction per chunk), so
 * what it measures is what the service's BatchCreateCustomers costs.
 *
 *   npm run db:synth -- --customers N [--database PATH] [--seed S]
 *
 * The database defaults to DATABASE_PATH (else data/chinook.db) and is
 * created from Chinook when missing, then migrated. Prints one JSON line.
 */
import { existsSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { sql } from "kysely";
import { CustomerSchema, type Customer } from "../gen/chinook/v1/customer_pb";
import { loadConfig } from "../src/config";
import { ensureDatabase } from "../src/db/bootstrap";
import { openDatabase, type Database } from "../src/db/connection";
import { migrateToLatest } from "../src/db/migrate";
import { inTransaction, type Executor } from "../src/db/transaction";
import { CustomerRepository } from "../src/customers/repository";
import { Flags } from "./flags";
import { CHINOOK_SOURCE } from "./paths";
import { Random } from "./random";
import { syntheticCustomer, type SyntheticCustomer } from "./synthetic-customers";

export const CHUNK_SIZE = 1000;
const PROGRESS_EVERY = 50_000;

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
  /** Where the time went: building messages, the repository's batchCreate, backdating the audit times… */
  secondsGenerating: number;
  secondsInBatchCreate: number;
  secondsBackdating: number;
  /** …BEGIN and COMMIT around each chunk, and the final WAL checkpoint. */
  secondsBeginCommit: number;
  secondsCheckpointing: number;
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
  const random = new Random(options.seed);
  const repository = new CustomerRepository(database.db);
  const stopwatch = new Stopwatch();
  const firstSerial = await nextCustomerId(database.db);
  const started = performance.now();
  for (let done = 0; done < options.customers; ) {
    const size = Math.min(CHUNK_SIZE, options.customers - done);
    const chunk = await stopwatch.time("generate", () => syntheticChunk(random, firstSerial + done, size));
    await stopwatch.time("transaction", () =>
      inTransaction(database.db, async (tx) => {
        const created = await stopwatch.time("batchCreate", () => repository.withTx(tx).batchCreate(chunk.requests));
        await stopwatch.time("backdate", () => backdate(tx, created, chunk.synthetic));
      }),
    );
    done += size;
    if (done % PROGRESS_EVERY === 0) options.progress?.(progressLine(done, started));
  }
  // Leave one self-contained file behind, ready to be copied.
  await stopwatch.time("checkpoint", () => database.sqlite.pragma("wal_checkpoint(TRUNCATE)"));
  const seconds = (performance.now() - started) / 1000;
  return {
    database: options.databasePath,
    customers: options.customers,
    seconds,
    rowsPerSecond: options.customers / seconds,
    secondsGenerating: stopwatch.seconds("generate"),
    secondsInBatchCreate: stopwatch.seconds("batchCreate"),
    secondsBackdating: stopwatch.seconds("backdate"),
    secondsBeginCommit:
      stopwatch.seconds("transaction") - stopwatch.seconds("batchCreate") - stopwatch.seconds("backdate"),
    secondsCheckpointing: stopwatch.seconds("checkpoint"),
  };
}

interface Chunk {
  synthetic: SyntheticCustomer[];
  requests: Array<{ customer: Customer }>;
}

function syntheticChunk(random: Random, firstSerial: number, size: number): Chunk {
  const synthetic = Array.from({ length: size }, (_, index) => syntheticCustomer(random, firstSerial + index));
  return { synthetic, requests: synthetic.map(({ customer }) => ({ customer: create(CustomerSchema, customer) })) };
}

async function nextCustomerId(db: Executor): Promise<number> {
  const { last } = await db
    .selectFrom("customers")
    .select((eb) => eb.fn.max<bigint | null>("CustomerId").as("last"))
    .executeTakeFirstOrThrow();
  return Number(last ?? 0n) + 1;
}

/**
 * The repository stamps created_at/updated_at with "now" (they are output
 * only), which would put a million customers in the same minute; spread them
 * over the years instead, in the chunk's transaction, one statement per chunk.
 */
async function backdate(
  tx: Executor,
  created: readonly Customer[],
  synthetic: readonly SyntheticCustomer[],
): Promise<void> {
  const rows = created.map((customer, index) => {
    const times = synthetic[index];
    if (times === undefined) throw new Error("batchCreate returned more customers than it was given");
    return sql`(${customer.customerId}, ${times.createdAt.toISOString()}, ${times.updatedAt.toISOString()})`;
  });
  await sql`UPDATE customers SET created_at = times.column2, updated_at = times.column3
    FROM (VALUES ${sql.join(rows)}) AS times
    WHERE customers.CustomerId = times.column1`.execute(tx);
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

async function main(): Promise<void> {
  const flags = new Flags(process.argv.slice(2), ["customers", "database", "seed"]);
  const customers = flags.integer("customers", 0, 1);
  if (customers === 0) throw new Error("--customers N is required");
  const databasePath = flags.optionalString("database") ?? loadConfig().databasePath;
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
      `backdate ${report.secondsBackdating.toFixed(1)} s, begin/commit ${report.secondsBeginCommit.toFixed(1)} s, ` +
      `checkpoint ${report.secondsCheckpointing.toFixed(1)} s)\n`,
  );
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`db:synth failed: ${detail}\n`);
    process.exit(1);
  });
}
