/**
 * Times the database layer in-process, without gRPC: N calls of each
 * repository operation, as wall and CPU µs per operation. Steadier than the
 * full benchmark on a busy machine, and what each database-layer change was
 * measured with (bench/RESULTS.md, "Database layer").
 *
 *   node dist/bench/repository-micro.js --database PATH [--scratch] [--ops get,list,…] [--n 2000] [--seed 1]
 *
 * The database is copied to a temporary directory first (writes never touch
 * PATH) unless --scratch says PATH itself is a disposable copy.
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { CustomerSchema, LoyaltyTier, type Customer } from "../gen/chinook/v1/customer_pb";
import { Customers } from "../src/customers/customers";
import { SqliteCustomerStore } from "../src/customers/stores/sqlite";
import { sqliteTransactions } from "../src/db/sqlite/transactions";
import { customerFromRow } from "../src/customers/rows";
import { openDatabase, type Database } from "../src/db/sqlite/connection";
import { migrateToLatest } from "../src/db/migrate";
import { Invoices } from "../src/invoices/invoices";
import { SqliteInvoiceStore } from "../src/invoices/stores/sqlite";
import type { CustomerRow } from "../src/db/schema";
import { Flags } from "./flags";
import { Random } from "./random";
import { syntheticCustomer } from "./synthetic-customers";

const OPERATIONS = ["get", "list", "list2", "create", "batchCreate", "update", "invoice", "stream", "map", "open"] as const;
type Operation = (typeof OPERATIONS)[number];

const LIST_FILTERS: ReadonlyArray<{ country: string; loyaltyTier: LoyaltyTier }> = ["USA", "Canada", "France", "Brazil"]
  .flatMap((country) => [LoyaltyTier.SILVER, LoyaltyTier.GOLD].map((loyaltyTier) => ({ country, loyaltyTier })));
const PAGE_SIZE = 50;
const BATCH_SIZE = 1000;

interface Context {
  database: Database;
  repository: Customers;
  invoices: Invoices;
  random: Random;
  minId: number;
  maxId: number;
  serial: number;
}

interface Measured {
  operation: Operation;
  /** Units timed: calls, or rows for batchCreate, stream and map. */
  units: number;
  unit: string;
  wallMicros: number;
  cpuMicros: number;
}

type Step = (context: Context) => Promise<number>;

/** One call of each operation; returns how many units (calls or rows) it did. */
const STEPS: Record<Exclude<Operation, "open">, Step> = {
  get: async (context) => {
    await context.repository.get(randomId(context));
    return 1;
  },
  list: async (context) => {
    await context.repository.list({ filter: randomListFilter(context), order: BY_ID, pageSize: PAGE_SIZE, pageToken: "" });
    return 1;
  },
  list2: async (context) => {
    const filter = randomListFilter(context);
    const first = await context.repository.list({ filter, order: BY_ID, pageSize: PAGE_SIZE, pageToken: "" });
    await context.repository.list({ filter, order: BY_ID, pageSize: PAGE_SIZE, pageToken: first.nextPageToken });
    return 1;
  },
  create: async (context) => {
    await context.repository.create(newCustomer(context));
    return 1;
  },
  batchCreate: async (context) => {
    const requests = Array.from({ length: BATCH_SIZE }, () => ({ customer: newCustomer(context) }));
    await context.repository.batchCreate(requests);
    return BATCH_SIZE;
  },
  update: async (context) => {
    const city = context.random.pick(["Lisbon", "Oslo", "Toronto", "Berlin"]);
    await context.repository.update(randomId(context), (current) => ({ ...current, city }));
    return 1;
  },
  invoice: async (context) => {
    const lines = Array.from({ length: context.random.integer(1, 5) }, () => ({
      trackId: BigInt(context.random.integer(1, TRACKS)),
      quantity: context.random.integer(1, 3),
    }));
    await context.invoices.create({ customerId: await activeCustomerId(context), lines }, new Uint8Array());
    return 1;
  },
  stream: async (context) => {
    let rows = 0;
    for await (const customer of context.repository.stream({ showDeleted: false })) {
      rows += customer.customerId > 0n ? 1 : 0;
      if (rows >= 20_000) break;
    }
    return rows;
  },
  map: async (context) => {
    const rows = context.database.sqlite
      .prepare("SELECT * FROM customers WHERE CustomerId >= ? ORDER BY CustomerId LIMIT 1000")
      .all(randomId(context)) as CustomerRow[];
    const started = process.cpuUsage();
    for (const row of rows) customerFromRow(row);
    mappedCpuMicros += cpuSince(started);
    return rows.length;
  },
};

/** `map` times only the mapping, not the read that feeds it. */
let mappedCpuMicros = 0;

const BY_ID = { field: "customer_id", descending: false } as const;

function randomId(context: Context): bigint {
  return BigInt(context.random.integer(context.minId, context.maxId));
}

/** Chinook's tracks are 1…3503. */
const TRACKS = 3503;

/** An ACTIVE customer near a random id: invoices are refused for the others. */
async function activeCustomerId(context: Context): Promise<bigint> {
  const row = await context.database.db
    .selectFrom("customers")
    .select("CustomerId")
    .where("status", "=", 1n)
    .where("CustomerId", ">=", randomId(context))
    .orderBy("CustomerId")
    .limit(1)
    .executeTakeFirst();
  return row?.CustomerId ?? 1n;
}

function randomListFilter(context: Context) {
  return { ...context.random.pick(LIST_FILTERS), showDeleted: false };
}

function newCustomer(context: Context): Customer {
  context.serial += 1;
  const { customer } = syntheticCustomer(context.random, context.serial);
  return create(CustomerSchema, { ...customer, email: `micro-${process.pid}-${context.serial}@example.com` });
}

function cpuSince(started: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(started);
  return user + system;
}

async function measure(operation: Exclude<Operation, "open">, context: Context, calls: number): Promise<Measured> {
  const step = STEPS[operation];
  const warmup = Math.min(Math.ceil(calls / 10), 200);
  for (let call = 0; call < warmup; call++) await step(context);
  mappedCpuMicros = 0;
  const cpuStarted = process.cpuUsage();
  const wallStarted = performance.now();
  let units = 0;
  for (let call = 0; call < calls; call++) units += await step(context);
  const wallMicros = (performance.now() - wallStarted) * 1000;
  const cpuMicros = operation === "map" ? mappedCpuMicros : cpuSince(cpuStarted);
  const unit = operation === "batchCreate" || operation === "stream" || operation === "map" ? "row" : "call";
  return { operation, units, unit, wallMicros: operation === "map" ? mappedCpuMicros : wallMicros, cpuMicros };
}

/** Opening and migrating the database as the service does at start-up, once. */
async function measureOpen(databasePath: string): Promise<Measured> {
  const cpuStarted = process.cpuUsage();
  const wallStarted = performance.now();
  const database = openDatabase(databasePath);
  await migrateToLatest(database.db);
  database.optimize();
  const wallMicros = (performance.now() - wallStarted) * 1000;
  const cpuMicros = cpuSince(cpuStarted);
  await database.close();
  return { operation: "open", units: 1, unit: "start", wallMicros, cpuMicros };
}

async function contextFor(database: Database, seed: number): Promise<Context> {
  // Two subqueries: SQLite seeks a lone min() or max(), but scans for both in one SELECT.
  const bounds = database.sqlite
    .prepare("SELECT (SELECT min(CustomerId) FROM customers) AS minId, (SELECT max(CustomerId) FROM customers) AS maxId")
    .get() as { minId: bigint; maxId: bigint };
  return {
    database,
    repository: new Customers(new SqliteCustomerStore(database.db, sqliteTransactions())),
    invoices: new Invoices(new SqliteInvoiceStore(database.db, sqliteTransactions())),
    random: new Random(seed),
    minId: Number(bounds.minId),
    maxId: Number(bounds.maxId),
    serial: 0,
  };
}

function format(result: Measured): string {
  const perUnit = (micros: number) => (micros / result.units).toFixed(1).padStart(9);
  return `${result.operation.padEnd(12)} ${String(result.units).padStart(8)} ${result.unit.padEnd(5)} ${perUnit(result.wallMicros)} ${perUnit(result.cpuMicros)}`;
}

function workingCopy(source: string, scratch: boolean): { file: string; dispose: () => void } {
  if (scratch) return { file: source, dispose: () => undefined };
  const dir = mkdtempSync(path.join(os.tmpdir(), "repository-micro-"));
  const file = path.join(dir, "db.sqlite");
  copyFileSync(source, file);
  return { file, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

function operationFrom(text: string): Operation {
  const operation = OPERATIONS.find((name) => name === text);
  if (operation === undefined) throw new Error(`--ops: unknown "${text}"; known: ${OPERATIONS.join(", ")}`);
  return operation;
}

async function main(): Promise<void> {
  const flags = new Flags(process.argv.slice(2), ["database", "scratch", "ops", "n", "seed"]);
  const source = flags.optionalString("database");
  if (source === undefined) throw new Error("--database PATH is required");
  const operations = flags.list("ops", ["get", "list", "create", "update", "batchCreate", "stream", "map"]).map(operationFrom);
  const calls = flags.integer("n", 2000, 1);
  const copy = workingCopy(source, flags.boolean("scratch"));
  try {
    process.stdout.write(`${"operation".padEnd(12)} ${"units".padStart(8)} ${"".padEnd(5)} ${"wall µs".padStart(9)} ${"cpu µs".padStart(9)}\n`);
    if (operations.includes("open")) process.stdout.write(`${format(await measureOpen(copy.file))}\n`);
    const database = openDatabase(copy.file);
    try {
      await migrateToLatest(database.db);
      const context = await contextFor(database, flags.integer("seed", 1));
      for (const operation of operations) {
        if (operation === "open") continue;
        const n = operation === "batchCreate" || operation === "stream" ? Math.max(1, Math.round(calls / 200)) : calls;
        process.stdout.write(`${format(await measure(operation, context, n))}\n`);
      }
    } finally {
      await database.close();
    }
  } finally {
    copy.dispose();
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`repository-micro failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
