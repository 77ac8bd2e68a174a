import type { Migration } from "kysely";
import * as extendCustomers from "./0001_extend_customers";
import * as customerIndexes from "./0002_customer_indexes";
import * as requestIds from "./0003_request_ids";
import * as invoiceIndexes from "./0004_invoice_indexes";
import * as pageTokenKeys from "./0005_page_token_keys";
import * as loyaltyTierColumn from "./0006_loyalty_tier_column";

/**
 * PostgreSQL's migrations, by name, applied in name order over the Chinook
 * tables src/db/postgres/chinook.ts creates. They reach the schema SQLite's
 * (migrations/sqlite) reach, in fewer steps. Listed statically so they work
 * the same compiled, under jest, and bundled.
 */
export const migrations: Record<string, Migration> = {
  "0001_extend_customers": extendCustomers,
  "0002_customer_indexes": customerIndexes,
  "0003_request_ids": requestIds,
  "0004_invoice_indexes": invoiceIndexes,
  "0005_page_token_keys": pageTokenKeys,
  "0006_loyalty_tier_column": loyaltyTierColumn,
};
