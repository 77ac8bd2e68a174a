import { sql, type Kysely } from "kysely";

/** The expression the loyalty tier is indexed by; ListCustomers' filter says it verbatim (src/db/schema.ts). */
const LOYALTY_TIER_EXPRESSION = "json_extract(data, '$.loyaltyTier')";

/**
 * Indexes for the contract's lookups, filters and orderings. Every index
 * implicitly ends in CustomerId (the rowid), so `ORDER BY x, CustomerId`
 * keyset pages walk an index on x. Emails and names compare case-insensitively.
 */
const INDEXES: ReadonlyArray<readonly [name: string, definition: string]> = [
  // Unique among customers that are not deleted (status 4 = DELETED).
  ["customers_email_live_uq", "UNIQUE INDEX customers_email_live_uq ON customers (Email COLLATE NOCASE) WHERE status <> 4"],
  ["customers_email_idx", "INDEX customers_email_idx ON customers (Email COLLATE NOCASE)"],
  ["customers_status_idx", "INDEX customers_status_idx ON customers (status)"],
  ["customers_phone_idx", "INDEX customers_phone_idx ON customers (Phone)"],
  ["customers_last_name_idx", "INDEX customers_last_name_idx ON customers (LastName COLLATE NOCASE)"],
  ["customers_first_name_idx", "INDEX customers_first_name_idx ON customers (FirstName COLLATE NOCASE)"],
  ["customers_country_idx", "INDEX customers_country_idx ON customers (Country)"],
  ["customers_created_at_idx", "INDEX customers_created_at_idx ON customers (created_at)"],
  ["customers_updated_at_idx", "INDEX customers_updated_at_idx ON customers (updated_at)"],
  ["customers_loyalty_tier_idx", `INDEX customers_loyalty_tier_idx ON customers (${LOYALTY_TIER_EXPRESSION})`],
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const [, definition] of INDEXES) {
    await sql.raw(`CREATE ${definition}`).execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const [name] of [...INDEXES].reverse()) {
    await db.schema.dropIndex(name).execute();
  }
}
