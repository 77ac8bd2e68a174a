import { readFileSync } from "node:fs";
import type { Kysely } from "kysely";
import { LoyaltyTier } from "../gen/chinook/v1/customer_pb";
import type { Database } from "../src/db/schema";
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
const ACTIVE = 1n;
const DELETED = 4n;

/** The facts of the database `db` reads, on either engine. */
export async function readFacts(db: Kysely<Database>): Promise<DatasetFacts> {
  const customers = await db
    .selectFrom("customers")
    .select((eb) => [eb.fn.countAll().as("rows"), eb.fn.min("CustomerId").as("minId"), eb.fn.max("CustomerId").as("maxId")])
    .executeTakeFirstOrThrow();
  const tracks = await db
    .selectFrom("tracks")
    .select((eb) => [eb.fn.min("TrackId").as("minId"), eb.fn.max("TrackId").as("maxId")])
    .executeTakeFirstOrThrow();
  const exported = await db.selectFrom("customers").select((eb) => eb.fn.countAll().as("rows")).where("status", "<>", DELETED).executeTakeFirstOrThrow();
  const [minCustomerId, maxCustomerId] = [Number(customers.minId), Number(customers.maxId)];
  return {
    rows: Number(customers.rows),
    minCustomerId,
    maxCustomerId,
    activeCustomerIds: await sampleActiveIds(db, minCustomerId, maxCustomerId),
    minTrackId: Number(tracks.minId),
    maxTrackId: Number(tracks.maxId),
    listFilters: listFilters(await hasProfiles(db)),
    exportCount: Number(exported.rows),
  };
}

/** Random probes into the id range: an index seek each, where ORDER BY random() would scan a million rows. */
async function sampleActiveIds(db: Kysely<Database>, minId: number, maxId: number): Promise<number[]> {
  const random = new Random(6);
  const ids = new Set<number>();
  for (let attempt = 0; attempt < ACTIVE_SAMPLE; attempt++) {
    const row = await db
      .selectFrom("customers")
      .select("CustomerId")
      .where("status", "=", ACTIVE)
      .where("CustomerId", ">=", BigInt(random.integer(minId, maxId)))
      .orderBy("CustomerId")
      .limit(1)
      .executeTakeFirst();
    if (row !== undefined) ids.add(Number(row.CustomerId));
  }
  if (ids.size === 0) throw new Error("no ACTIVE customer to invoice");
  return [...ids];
}

async function hasProfiles(db: Kysely<Database>): Promise<boolean> {
  return (await db.selectFrom("customers").select("CustomerId").where("data", "is not", null).limit(1).executeTakeFirst()) !== undefined;
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
