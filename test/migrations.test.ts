import { createHash } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import type BetterSqlite3 from "better-sqlite3";
import { openDatabase, type Database } from "../src/db/sqlite/connection";
import { MigrationError, migrateToEmpty, migrateToLatest, migrationStatus } from "../src/db/migrate";
import { migrations } from "../migrations/sqlite";
import { CHINOOK_CUSTOMERS } from "./support/chinook";
import { CHINOOK_SOURCE, copyChinook } from "./support/database";

const PINNED_SHA256 = "a3c903a61357c2059ea51ed5e3d79f33fa5f960cd948829b27f97ea8a4793c82";
const CHINOOK_TABLES = [
  "albums",
  "artists",
  "customers",
  "employees",
  "genres",
  "invoice_items",
  "invoices",
  "media_types",
  "playlist_track",
  "playlists",
  "tracks",
];
const ADDED_CUSTOMER_COLUMNS = ["status", "data", "created_at", "updated_at"];
const OUR_INDEXES = [
  "customers_email_live_uq",
  "customers_email_idx",
  "customers_status_idx",
  "customers_phone_idx",
  "customers_last_name_idx",
  "customers_first_name_idx",
  "customers_country_idx",
  "customers_created_at_idx",
  "customers_updated_at_idx",
  "customers_loyalty_tier_idx",
  "customers_live_country_tier_idx",
  "customer_tags_customer_idx",
  "invoices_customer_date_idx",
];
const OUR_TRIGGERS = ["customers_tags_after_insert", "customers_tags_after_update", "customers_tags_after_delete"];
const OUR_TABLES = ["customer_tags", "page_token_keys", "request_ids"];
const ISO_UTC_MILLIS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const MIGRATION_NAMES = Object.keys(migrations).sort();

interface TableSnapshot {
  /** PRAGMA table_info: name, type, NOT NULL, default and primary key of every column. */
  columns: unknown[];
  columnNames: string[];
  /** Every row, in primary-key order, serialized so that storage classes show (1n vs 1 vs "1"). */
  rows: string;
}
type DatabaseSnapshot = Record<string, TableSnapshot>;

function sha256Of(filePath: string): string {
  return createHash("sha256").update(readFileSync(filePath)).digest("hex");
}

function quoted(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

function strings(values: unknown[]): string[] {
  return values.map((value) => {
    if (typeof value !== "string") throw new TypeError(`expected a string, got ${typeof value}`);
    return value;
  });
}

/** Tables as listed in the schema, minus SQLite's and the Migrator's own bookkeeping. */
function userTables(sqlite: BetterSqlite3.Database): string[] {
  const names = sqlite
    .prepare(
      `SELECT name FROM sqlite_master
       WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE 'kysely\\_%' ESCAPE '\\'
       ORDER BY name`,
    )
    .pluck()
    .all();
  return strings(names);
}

function columnInfo(sqlite: BetterSqlite3.Database, table: string): unknown[] {
  return sqlite.prepare("SELECT * FROM pragma_table_info(?) ORDER BY cid").all(table);
}

function columnNames(sqlite: BetterSqlite3.Database, table: string): string[] {
  return strings(sqlite.prepare("SELECT name FROM pragma_table_info(?) ORDER BY cid").pluck().all(table));
}

function primaryKey(sqlite: BetterSqlite3.Database, table: string): string[] {
  return strings(sqlite.prepare("SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk").pluck().all(table));
}

function serialize(rows: unknown[]): string {
  return JSON.stringify(rows, (_key, value: unknown) => {
    if (typeof value === "bigint") return `${value}n`;
    if (Buffer.isBuffer(value)) return `x'${value.toString("hex")}'`;
    return value;
  });
}

/** The table's rows in primary-key order, restricted to `columns` when given. */
function tableRows(sqlite: BetterSqlite3.Database, table: string, columns = columnNames(sqlite, table)): string {
  const order = primaryKey(sqlite, table);
  expect(order.length).toBeGreaterThan(0);
  const select = `SELECT ${columns.map(quoted).join(", ")} FROM ${quoted(table)} ORDER BY ${order.map(quoted).join(", ")}`;
  return serialize(sqlite.prepare(select).all());
}

function snapshot(sqlite: BetterSqlite3.Database, tables = userTables(sqlite)): DatabaseSnapshot {
  return Object.fromEntries(tables.map((table) => [table, { columns: columnInfo(sqlite, table), columnNames: columnNames(sqlite, table), rows: tableRows(sqlite, table) }]));
}

/** Every schema object (tables, indexes, triggers, views) with its SQL, minus the Migrator's own. */
function schemaObjects(sqlite: BetterSqlite3.Database): unknown[] {
  return sqlite
    .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE tbl_name NOT LIKE 'kysely\\_%' ESCAPE '\\' ORDER BY type, name")
    .all();
}

function objectNames(sqlite: BetterSqlite3.Database, type: "index" | "table" | "trigger"): string[] {
  return strings(sqlite.prepare("SELECT name FROM sqlite_master WHERE type = ?").pluck().all(type));
}

function recordedMigrations(sqlite: BetterSqlite3.Database): string[] {
  return strings(sqlite.prepare("SELECT name FROM kysely_migration ORDER BY name").pluck().all());
}

/** The customers table after migrating, minus the timestamps that differ between runs. */
function customersWithoutTimestamps(sqlite: BetterSqlite3.Database): string {
  const columns = columnNames(sqlite, "customers").filter((name) => name !== "created_at" && name !== "updated_at");
  return tableRows(sqlite, "customers", columns);
}

/** Every Chinook table restricted to its original columns: what the migrations must not touch. */
function originalContents(sqlite: BetterSqlite3.Database, baseline: DatabaseSnapshot): Record<string, string> {
  return Object.fromEntries(CHINOOK_TABLES.map((table) => [table, tableRows(sqlite, table, tableOf(baseline, table).columnNames)]));
}

function tableOf(baseline: DatabaseSnapshot, table: string): TableSnapshot {
  const entry = baseline[table];
  if (entry === undefined) throw new Error(`no snapshot of ${table}`);
  return entry;
}

function rowsOf(baseline: DatabaseSnapshot): Record<string, string> {
  return Object.fromEntries(Object.entries(baseline).map(([table, { rows }]) => [table, rows]));
}

function customerAudits({ db }: Database) {
  return db.selectFrom("customers").select(["status", "data", "created_at", "updated_at"]).orderBy("CustomerId").execute();
}

const sourceHashBefore = sha256Of(CHINOOK_SOURCE);
let dir: string;
let database: Database;
let sqlite: BetterSqlite3.Database;
let baseline: DatabaseSnapshot;
let baselineSchema: unknown[];

beforeEach(() => {
  const copy = copyChinook();
  dir = copy.dir;
  database = openDatabase(copy.file);
  sqlite = database.sqlite;
  baseline = snapshot(sqlite);
  baselineSchema = schemaObjects(sqlite);
});

afterEach(async () => {
  await database.close();
  rmSync(dir, { recursive: true, force: true });
});

afterAll(() => {
  expect(sourceHashBefore).toBe(PINNED_SHA256);
  expect(sha256Of(CHINOOK_SOURCE)).toBe(PINNED_SHA256);
});

test("the baseline is the real, unmigrated Chinook", () => {
  expect(Object.keys(baseline)).toEqual(CHINOOK_TABLES);
  expect(columnNames(sqlite, "customers")).not.toContain("status");
  expect(baseline.tracks?.rows).toContain('"Name":"For Those About To Rock (We Salute You)"');
});

describe("migrating up", () => {
  test("adds the audit columns to every customer, backfilled", async () => {
    await migrateToLatest(database.db);

    expect(columnNames(sqlite, "customers")).toEqual([...tableOf(baseline, "customers").columnNames, ...ADDED_CUSTOMER_COLUMNS]);
    const audits = await customerAudits(database);
    expect(audits).toHaveLength(CHINOOK_CUSTOMERS);
    for (const audit of audits) {
      expect(audit.status).toBe(1n);
      expect(audit.data).toBeNull();
      expect(audit.created_at).toMatch(ISO_UTC_MILLIS);
      expect(audit.updated_at).toBe(audit.created_at);
    }
  });

  test("keeps every original value of every Chinook table", async () => {
    await migrateToLatest(database.db);

    expect(originalContents(sqlite, baseline)).toEqual(rowsOf(baseline));
  });

  test("creates the indexes, triggers and tables the service relies on", async () => {
    await migrateToLatest(database.db);

    expect(objectNames(sqlite, "index")).toEqual(expect.arrayContaining(OUR_INDEXES));
    expect(objectNames(sqlite, "trigger")).toEqual(expect.arrayContaining(OUR_TRIGGERS));
    expect(userTables(sqlite)).toEqual([...CHINOOK_TABLES, ...OUR_TABLES].sort());
  });

  test("applies every migration in order, then has nothing left to apply", async () => {
    expect(await migrateToLatest(database.db)).toEqual(MIGRATION_NAMES);

    expect(await migrateToLatest(database.db)).toEqual([]);
    expect(recordedMigrations(sqlite)).toEqual(MIGRATION_NAMES);
  });
});

describe("migrating all the way down", () => {
  test("restores every table's contents and columns exactly", async () => {
    await migrateToLatest(database.db);
    expect(await migrateToEmpty(database.db)).toEqual([...MIGRATION_NAMES].reverse());

    expect(snapshot(sqlite)).toEqual(baseline);
  });

  test("removes every index, trigger and table the migrations made", async () => {
    await migrateToLatest(database.db);
    await migrateToEmpty(database.db);

    const names = [...objectNames(sqlite, "index"), ...objectNames(sqlite, "trigger"), ...objectNames(sqlite, "table")];
    for (const ours of [...OUR_INDEXES, ...OUR_TRIGGERS, ...OUR_TABLES]) expect(names).not.toContain(ours);
    expect(schemaObjects(sqlite)).toEqual(baselineSchema);
  });

  test("can be migrated up again to the same schema and data", async () => {
    await migrateToLatest(database.db);
    const firstSchema = schemaObjects(sqlite);
    const firstCustomers = customersWithoutTimestamps(sqlite);
    await migrateToEmpty(database.db);

    expect(await migrateToLatest(database.db)).toEqual(MIGRATION_NAMES);

    expect(schemaObjects(sqlite)).toEqual(firstSchema);
    expect(customersWithoutTimestamps(sqlite)).toEqual(firstCustomers);
    expect(originalContents(sqlite, baseline)).toEqual(rowsOf(baseline));
  });
});

describe("migrationStatus", () => {
  test("reports every migration pending on the untouched database", async () => {
    const states = await migrationStatus(database.db);

    expect(states).toEqual(MIGRATION_NAMES.map((name) => ({ name, appliedAt: undefined })));
  });

  test("reports every migration applied after up, none after down", async () => {
    const before = new Date();
    await migrateToLatest(database.db);

    const applied = await migrationStatus(database.db);
    expect(applied.map(({ name }) => name)).toEqual(MIGRATION_NAMES);
    for (const { appliedAt } of applied) {
      expect(appliedAt).toBeInstanceOf(Date);
      expect(appliedAt?.getTime()).toBeGreaterThanOrEqual(before.getTime() - 1000);
    }

    await migrateToEmpty(database.db);
    expect(await migrationStatus(database.db)).toEqual(MIGRATION_NAMES.map((name) => ({ name, appliedAt: undefined })));
  });
});

describe("a migration that fails midway", () => {
  beforeEach(() => {
    // 0004 creates request_ids; an object already in its way makes it fail after 0001-0003 ran.
    sqlite.exec("CREATE TABLE request_ids (id INTEGER PRIMARY KEY)");
  });

  test("rejects with a MigrationError naming the migration", async () => {
    const run = migrateToLatest(database.db);

    await expect(run).rejects.toThrow(MigrationError);
    await expect(run).rejects.toThrow(/0004_request_ids/);
  });

  test("rolls back the whole run: nothing recorded, nothing half-applied", async () => {
    await expect(migrateToLatest(database.db)).rejects.toThrow(MigrationError);

    expect(recordedMigrations(sqlite)).toEqual([]);
    expect(columnNames(sqlite, "customers")).not.toContain("status");
    expect(userTables(sqlite)).not.toContain("customer_tags");
    expect(objectNames(sqlite, "index")).not.toContain("customers_email_live_uq");
    expect(objectNames(sqlite, "trigger")).toEqual([]);
    expect(snapshot(sqlite, CHINOOK_TABLES)).toEqual(baseline);
  });
});
