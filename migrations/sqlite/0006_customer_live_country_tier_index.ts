import { sql, type Kysely } from "kysely";

const INDEX = "customers_live_country_tier_idx";
/** As 0002 indexes the loyalty tier; a migration keeps the text it was written with. */
const LOYALTY_TIER_EXPRESSION = "json_extract(data, '$.loyaltyTier')";

/**
 * ListCustomers filtered by country and loyalty tier, among customers that are
 * not deleted (status 4): with both columns fixed the index walks matches in
 * CustomerId order, so a page reads only its own rows, and it answers the
 * count of matches without reading the table.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql
    .raw(`CREATE INDEX ${INDEX} ON customers (Country, ${LOYALTY_TIER_EXPRESSION}) WHERE status <> 4`)
    .execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex(INDEX).execute();
}
