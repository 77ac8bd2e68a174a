import { sql, type Kysely } from "kysely";
import { nonAsciiCaseClassList } from "../../src/customers/case-insensitive";

/**
 * Case-insensitive text as the SQLite path compares it
 * (src/customers/case-insensitive.ts): ASCII letters fold, and each non-ASCII
 * character stands for its whole case class (σ, ς and Σ; ß and ẞ). lower()
 * under the C collation folds ASCII only, whatever the database's locale;
 * translate() then maps every member of a non-ASCII class to the class's
 * first one. Text that is all ASCII (as long in bytes as in characters) skips
 * the translate, whose cost grows with the length of its map. IMMUTABLE and a
 * single expression: indexes may use it and the planner inlines it.
 *
 * The map is built from the case classes of the Node.js that runs this
 * migration, as the SQLite path builds them at run time.
 */
function foldFunction(): string {
  const [from, to] = [[] as string[], [] as string[]];
  for (const members of nonAsciiCaseClassList()) {
    const [first, ...others] = members;
    if (first === undefined) continue;
    for (const member of others) {
      from.push(member);
      to.push(first);
    }
  }
  const literal = (characters: string[]) => `'${characters.join("").replaceAll("'", "''")}'`;
  return `CREATE FUNCTION chinook_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $fold$
      SELECT CASE
        WHEN octet_length($1) = char_length($1) THEN lower($1 COLLATE "C")
        ELSE translate(lower($1 COLLATE "C"), ${literal(from)}, ${literal(to)})
      END
    $fold$`;
}

/**
 * Indexes for the contract's lookups, filters and orderings (as
 * migrations/sqlite/0002, 0006 and 0007 make them for SQLite). A query uses
 * an index on an expression only when it repeats the expression, collation
 * included, so the store's queries say these verbatim:
 *
 * - email and name prefix filters: `chinook_fold(col) COLLATE "C"` (a prefix
 *   LIKE walks a C-collation btree);
 * - orders by last name and email: `lower(col COLLATE "C")` (SQLite's NOCASE
 *   order: ASCII folded, then bytes), then "CustomerId";
 * - country: `"Country" COLLATE "C"`, NULLs first ascending as SQLite sorts them;
 * - loyalty tier: `data->>'loyaltyTier'`; tag: `data->'tags' @> '["tag"]'`.
 */
const INDEXES: ReadonlyArray<readonly [name: string, definition: string]> = [
  // Live emails are unique (status 4 = DELETED), across every process.
  ["customers_live_email_key", `UNIQUE INDEX customers_live_email_key ON customers ((chinook_fold("Email") COLLATE "C")) WHERE status <> 4`],
  ["customers_email_idx", `INDEX customers_email_idx ON customers ((chinook_fold("Email") COLLATE "C"))`],
  ["customers_email_order_idx", `INDEX customers_email_order_idx ON customers ((lower("Email" COLLATE "C")), "CustomerId")`],
  ["customers_last_name_order_idx", `INDEX customers_last_name_order_idx ON customers ((lower("LastName" COLLATE "C")), "CustomerId")`],
  ["customers_first_name_idx", `INDEX customers_first_name_idx ON customers ((chinook_fold("FirstName") COLLATE "C"))`],
  ["customers_last_name_idx", `INDEX customers_last_name_idx ON customers ((chinook_fold("LastName") COLLATE "C"))`],
  ["customers_country_order_idx", `INDEX customers_country_order_idx ON customers (("Country" COLLATE "C") NULLS FIRST, "CustomerId")`],
  ["customers_created_at_idx", `INDEX customers_created_at_idx ON customers (created_at, "CustomerId")`],
  ["customers_updated_at_idx", `INDEX customers_updated_at_idx ON customers (updated_at, "CustomerId")`],
  ["customers_status_idx", `INDEX customers_status_idx ON customers (status)`],
  ["customers_phone_idx", `INDEX customers_phone_idx ON customers ("Phone")`],
  ["customers_loyalty_tier_idx", `INDEX customers_loyalty_tier_idx ON customers ((data->>'loyaltyTier'))`],
  // With country and tier fixed, the live matches come in CustomerId order, from the index alone.
  [
    "customers_live_country_tier_idx",
    `INDEX customers_live_country_tier_idx ON customers (("Country" COLLATE "C"), (data->>'loyaltyTier'), "CustomerId", status) WHERE status <> 4`,
  ],
  // No customer_tags table here: jsonb containment on the tags array is indexed as it is.
  ["customers_tags_idx", `INDEX customers_tags_idx ON customers USING gin ((data->'tags') jsonb_path_ops)`],
];

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql.raw(foldFunction()).execute(db);
  for (const [, definition] of INDEXES) {
    await sql.raw(`CREATE ${definition}`).execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const [name] of [...INDEXES].reverse()) {
    await db.schema.dropIndex(name).execute();
  }
  await sql`DROP FUNCTION chinook_fold(text)`.execute(db);
}
