import type BetterSqlite3 from "better-sqlite3";

/**
 * Planner statistics for a customers table of a million rows, so that
 * EXPLAIN QUERY PLAN shows the plans production gets at scale without
 * building such a table in a test. SQLite documents sqlite_stat1 as writable
 * for exactly this; `ANALYZE sqlite_schema` makes the planner reload it.
 * Each stat is "rows, then rows per distinct value of each index column".
 */
const MILLION_CUSTOMERS: ReadonlyArray<readonly [table: string, index: string | null, stat: string]> = [
  ["customers", null, "1000000"],
  ["customers", "customers_email_live_uq", "1000000 1"],
  ["customers", "customers_email_idx", "1000000 1"],
  ["customers", "customers_status_idx", "1000000 250000"],
  ["customers", "customers_phone_idx", "1000000 2"],
  ["customers", "customers_last_name_idx", "1000000 300"],
  ["customers", "customers_first_name_idx", "1000000 300"],
  ["customers", "customers_country_idx", "1000000 40000"],
  ["customers", "customers_created_at_idx", "1000000 1"],
  ["customers", "customers_updated_at_idx", "1000000 1"],
  ["customers", "customers_loyalty_tier_idx", "1000000 200000"],
  ["customers", "customers_live_country_tier_idx", "1000000 40000 8000 1 1"],
  ["customers", "IFK_CustomerSupportRepId", "1000000 333333"],
  ["customer_tags", "customer_tags_customer_idx", "3000000 3"],
  // A WITHOUT ROWID table is its primary key's index, and its statistics go by the table's name.
  ["customer_tags", "customer_tags", "3000000 3000 1"],
];

/** Makes the planner plan as if customers held a million rows. */
export function planAsIfMillionCustomers(sqlite: BetterSqlite3.Database): void {
  const existing = new Set(
    (sqlite.prepare("SELECT name FROM sqlite_master WHERE type IN ('index', 'table')").all() as Array<{ name: string }>).map(
      (row) => row.name,
    ),
  );
  sqlite.exec("ANALYZE"); // creates sqlite_stat1 (and sqlite_stat4 where compiled in) if missing
  sqlite.prepare("DELETE FROM sqlite_stat1 WHERE tbl IN ('customers', 'customer_tags')").run();
  // STAT4 samples of the small table would override the scale for range estimates.
  if (hasTable(sqlite, "sqlite_stat4")) sqlite.prepare("DELETE FROM sqlite_stat4 WHERE tbl IN ('customers', 'customer_tags')").run();
  const insert = sqlite.prepare("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)");
  for (const [table, index, stat] of MILLION_CUSTOMERS) {
    // A renamed or dropped index would otherwise lose its statistics, and its plans their scale, unnoticed.
    if (index !== null && !existing.has(index)) throw new Error(`no index ${index} to give million-row statistics`);
    insert.run(table, index, stat);
  }
  sqlite.exec("ANALYZE sqlite_schema");
}

function hasTable(sqlite: BetterSqlite3.Database, name: string): boolean {
  return sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}
