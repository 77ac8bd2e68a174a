import { readFileSync } from "node:fs";
import type BetterSqlite3 from "better-sqlite3";
import { LoyaltyTier } from "../gen/chinook/v1/customer_pb";
import { SqliteDatabase } from "../src/db/sqlite/driver";
import { arrayAt, asRecord, numberAt, numbersAt, parseJsonRecord, type JsonRecord } from "./json";
import { Random } from "./random";

/**
 * What the load generator needs to know about a dataset to send requests
 * that find something: read once by the runner from the database, handed to
 * every load process as a JSON file.
 */
export interface DatasetFacts {
  /** Customers in the table, deleted or not. */
  rows: number;
  minCustomerId: number;
  maxCustomerId: number;
  /** A sample of ACTIVE customers: only they can be invoiced. */
  activeCustomerIds: number[];
  minTrackId: number;
  maxTrackId: number;
  /** ListCustomers filters to rotate through. */
  listFilters: ListFilter[];
  /** How many customers an unfiltered export streams. */
  exportCount: number;
}

export interface ListFilter {
  country: string;
  /** UNSPECIFIED: no tier filter (the real Chinook has no profiles). */
  loyaltyTier: LoyaltyTier;
}

const ACTIVE_SAMPLE = 1000;
const LIST_COUNTRIES = ["USA", "Canada", "France", "Brazil"];
const LIST_TIERS = [LoyaltyTier.SILVER, LoyaltyTier.GOLD];
const ACTIVE = 1;
const DELETED = 4;

export function readFacts(databasePath: string): DatasetFacts {
  const sqlite = new SqliteDatabase(databasePath, { readonly: true, fileMustExist: true });
  try {
    const customers = integers(sqlite, "SELECT count(*), min(CustomerId), max(CustomerId) FROM customers");
    const tracks = integers(sqlite, "SELECT min(TrackId), max(TrackId) FROM tracks");
    const [rows = 0, minCustomerId = 0, maxCustomerId = 0] = customers;
    return {
      rows,
      minCustomerId,
      maxCustomerId,
      activeCustomerIds: sampleActiveIds(sqlite, minCustomerId, maxCustomerId),
      minTrackId: tracks[0] ?? 0,
      maxTrackId: tracks[1] ?? 0,
      listFilters: listFilters(hasProfiles(sqlite)),
      exportCount: integers(sqlite, `SELECT count(*) FROM customers WHERE status <> ${DELETED}`)[0] ?? 0,
    };
  } finally {
    sqlite.close();
  }
}

function integers(sqlite: BetterSqlite3.Database, query: string): number[] {
  const row: unknown = sqlite.prepare(query).raw().get();
  if (!Array.isArray(row)) throw new Error(`no row from ${query}`);
  return row.map(Number);
}

/** Random probes into the id range: an index seek each, where ORDER BY random() would scan a million rows. */
function sampleActiveIds(sqlite: BetterSqlite3.Database, minId: number, maxId: number): number[] {
  const probe = sqlite.prepare(
    `SELECT CustomerId FROM customers WHERE status = ${ACTIVE} AND CustomerId >= ? ORDER BY CustomerId LIMIT 1`,
  );
  const random = new Random(6);
  const ids = new Set<number>();
  for (let attempt = 0; attempt < ACTIVE_SAMPLE; attempt++) {
    const row: unknown = probe.raw().get(random.integer(minId, maxId));
    if (Array.isArray(row)) ids.add(Number(row[0]));
  }
  if (ids.size === 0) throw new Error("no ACTIVE customer to invoice");
  return [...ids];
}

function hasProfiles(sqlite: BetterSqlite3.Database): boolean {
  return sqlite.prepare("SELECT 1 FROM customers WHERE data IS NOT NULL LIMIT 1").get() !== undefined;
}

function listFilters(withTiers: boolean): ListFilter[] {
  if (!withTiers) return LIST_COUNTRIES.map((country) => ({ country, loyaltyTier: LoyaltyTier.UNSPECIFIED }));
  return LIST_COUNTRIES.flatMap((country) => LIST_TIERS.map((loyaltyTier) => ({ country, loyaltyTier })));
}

export function loadFacts(file: string): DatasetFacts {
  const what = "facts";
  const record = parseJsonRecord(readFileSync(file, "utf8"), what);
  return {
    rows: numberAt(record, "rows", what),
    minCustomerId: numberAt(record, "minCustomerId", what),
    maxCustomerId: numberAt(record, "maxCustomerId", what),
    activeCustomerIds: numbersAt(record, "activeCustomerIds", what),
    minTrackId: numberAt(record, "minTrackId", what),
    maxTrackId: numberAt(record, "maxTrackId", what),
    listFilters: arrayAt(record, "listFilters", what).map((item) => listFilterFrom(asRecord(item, "listFilter"))),
    exportCount: numberAt(record, "exportCount", what),
  };
}

function listFilterFrom(record: JsonRecord): ListFilter {
  const country = record.country;
  const tier = numberAt(record, "loyaltyTier", "listFilter");
  const loyaltyTier = Object.values(LoyaltyTier).find((value) => value === tier);
  if (typeof country !== "string" || typeof loyaltyTier !== "number") {
    throw new Error("listFilter: bad country or tier");
  }
  return { country, loyaltyTier };
}
