/**
 * A customers table at scale on PostgreSQL, for tests of the plans production
 * gets: the counterpart of scale.ts, which fakes SQLite's statistics. The rows
 * drawn as db:synth draws them (bench/synthetic-customers.ts), but in one
 * INSERT ... SELECT over generate_series rather than through the domain.
 */
import { POSTGRES_MIGRATIONS, migrateDown, migrateToLatest } from "../../src/db/migrate";
import type { PostgresDatabase } from "../../src/db/postgres/connection";

/** The migration that indexes customers: reverted while the rows go in, so each index is built once, by sorting. */
const CUSTOMER_INDEXES = "0002_customer_indexes";

/** Chinook's countries, weighted by its customers in each. */
const COUNTRY_WEIGHTS: ReadonlyArray<readonly [country: string, weight: number]> = [
  ["USA", 13], ["Canada", 8], ["Brazil", 5], ["France", 5], ["Germany", 4], ["United Kingdom", 3],
  ["Portugal", 2], ["India", 2], ["Czech Republic", 2], ["Sweden", 1], ["Spain", 1], ["Poland", 1],
  ["Norway", 1], ["Netherlands", 1], ["Italy", 1], ["Ireland", 1], ["Hungary", 1], ["Finland", 1],
  ["Denmark", 1], ["Chile", 1], ["Belgium", 1], ["Austria", 1], ["Australia", 1], ["Argentina", 1],
];

const FIRST_NAMES = [
  "Luís", "Leonie", "François", "Bjørn", "Helena", "Astrid", "Daan", "Kara", "Eduardo", "Mark", "Jennifer", "Frank",
  "Jack", "Michelle", "Tim", "Dan", "Kathy", "Heather", "John", "Robert", "Victor", "Richard", "Patrick", "Julia",
  "Martha", "Ellie", "Madalena", "Hannah", "Camille", "Marc", "Lucas", "Emma", "Phil", "Steve", "Carlos", "Diego",
  "Manoj", "Puja", "Aisha", "Mateo", "Sofia", "Noah", "Olivia", "Hugh", "Wyatt",
];

const LAST_NAMES = [
  "Gonçalves", "Köhler", "Tremblay", "Hansen", "Schneider", "Mercier", "Philips", "Peeters", "Nielsen", "Silva",
  "Rocha", "Ramos", "Brooks", "Goyer", "Miller", "Chase", "Smith", "Murray", "Harris", "Stevens", "Taylor",
  "Cunningham", "Barnett", "Gordon", "Brown", "Fernandes", "Sampaio", "Zimmermann", "Lefebvre", "Martin", "Dubois",
  "Girard", "Bernard", "Jones", "Hughes", "Murphy", "Sullivan", "Ralston", "Nowak", "Kowalski", "Rossi", "Novak",
  "Khan", "Pareek", "Rojas", "Walker", "Wright", "Hall", "Young", "King",
];

export const SYNTHETIC_TAGS = [
  "vinyl-collector", "early-adopter", "newsletter", "jazz-fan", "rock-fan", "classical", "audiophile", "gift-buyer",
  "bulk-buyer", "student", "b2b", "festival-goer", "playlist-curator", "returning", "reseller", "vip",
];

/**
 * As bench/synthetic-customers.ts draws them: countries weighted as in
 * Chinook (1% without one); tiers bronze 40%, silver 30%, gold 18%, platinum
 * 6%, none 6%; each tag on one customer in ten; 91% active, 6% inactive, 2%
 * suspended, 1% deleted; creation times growing with the id over a decade;
 * ASCII emails; a profile as wide as theirs. $1 is the count; setseed makes the same rows
 * every run.
 */
const INSERT_CUSTOMERS = `
  INSERT INTO customers ("FirstName", "LastName", "Address", "City", "Country", "PostalCode", "Phone", "Email",
                         "SupportRepId", status, data, created_at, updated_at)
  SELECT first_name, last_name, address, city, country, postal_code, phone,
         regexp_replace(lower(first_name || '.' || last_name), '[^a-z.]', '', 'g') || '.' || i || '@example.com',
         support_rep, status, data, created_at,
         date_trunc('milliseconds', created_at + random() * (timestamptz '2025-06-30' - created_at))
  FROM (
    SELECT i,
           ($2::text[])[1 + floor(random() * cardinality($2::text[]))::int] AS first_name,
           ($3::text[])[1 + floor(random() * cardinality($3::text[]))::int] AS last_name,
           (1 + floor(random() * 9999)::int) || ' Main Street' AS address,
           'City ' || floor(random() * 40)::int AS city,
           CASE WHEN random() >= 0.01 THEN ($4::text[])[1 + floor(random() * cardinality($4::text[]))::int] END AS country,
           lpad(floor(random() * 100000)::int::text, 5, '0') AS postal_code,
           '+1 (555) ' || lpad(floor(random() * 10000000)::int::text, 7, '0') AS phone,
           3 + floor(random() * 3)::bigint AS support_rep,
           CASE WHEN r_status < 0.91 THEN 1 WHEN r_status < 0.97 THEN 2 WHEN r_status < 0.99 THEN 3 ELSE 4 END AS status,
           jsonb_strip_nulls(jsonb_build_object(
             'loyaltyTier', CASE WHEN r_tier < 0.40 THEN 'LOYALTY_TIER_BRONZE' WHEN r_tier < 0.70 THEN 'LOYALTY_TIER_SILVER'
                                 WHEN r_tier < 0.88 THEN 'LOYALTY_TIER_GOLD' WHEN r_tier < 0.94 THEN 'LOYALTY_TIER_PLATINUM' END,
             -- "i > 0" ties each subquery to its row: one that does not depend on the row runs once for all.
             'tags', (SELECT jsonb_agg(tag) FROM unnest($5::text[]) tag WHERE random() < 0.1 AND i > 0),
             'favoriteGenreIds', (SELECT jsonb_agg(genre::text) FROM generate_series(1, 25) genre WHERE random() < 0.06 AND i > 0),
             'marketingOptIn', CASE WHEN random() < 0.55 THEN true END,
             'attributes', CASE WHEN random() < 0.6 THEN jsonb_build_object('source', 'web', 'segment', 'enthusiast') END,
             'preferredContact', CASE WHEN random() < 0.75 THEN 'CONTACT_CHANNEL_EMAIL' END,
             'notes', CASE WHEN random() < 0.1 THEN 'Prefers lossless formats.' END,
             'lastContactTime', CASE WHEN random() < 0.5 THEN '2024-05-06T07:08:09Z' END
           )) AS data,
           date_trunc('milliseconds', timestamptz '2014-01-01' + (i::float8 / $1) * (timestamptz '2025-06-30' - timestamptz '2014-01-01')) AS created_at
    FROM (SELECT i, random() AS r_tier, random() AS r_status FROM generate_series(1, $1::int) i) numbered
  ) drawn`;

/**
 * Adds `count` synthetic customers to a migrated database, then VACUUM
 * ANALYZE: statistics, and the visibility map autovacuum keeps on a live
 * table, which index-only scans rely on.
 */
export async function addSyntheticCustomers(database: PostgresDatabase, count: number): Promise<void> {
  await revertTo(database, CUSTOMER_INDEXES);
  await insertCustomers(database, count);
  await migrateToLatest(database.db, POSTGRES_MIGRATIONS);
  await database.pool.query("VACUUM (ANALYZE) customers");
}

/** Reverts the migrations down to `name`, that one included. */
async function revertTo(database: PostgresDatabase, name: string): Promise<void> {
  for (;;) {
    const [reverted] = await migrateDown(database.db, POSTGRES_MIGRATIONS);
    if (reverted === undefined) throw new Error(`no migration ${name} to revert`);
    if (reverted === name) return;
  }
}

async function insertCustomers(database: PostgresDatabase, count: number): Promise<void> {
  const countries = COUNTRY_WEIGHTS.flatMap(([country, weight]) => Array.from({ length: weight }, () => country));
  // One connection: the seed is the session's.
  const client = await database.pool.connect();
  try {
    await client.query("SELECT setseed(0.25)");
    await client.query(INSERT_CUSTOMERS, [count, FIRST_NAMES, LAST_NAMES, countries, SYNTHETIC_TAGS]);
  } finally {
    client.release();
  }
}
