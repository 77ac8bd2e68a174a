import type { Migration } from "kysely";
import * as extendCustomers from "./0001_extend_customers";
import * as customerIndexes from "./0002_customer_indexes";
import * as customerTags from "./0003_customer_tags";
import * as requestIds from "./0004_request_ids";
import * as invoiceIndexes from "./0005_invoice_indexes";
import * as customerLiveCountryTierIndex from "./0006_customer_live_country_tier_index";
import * as coveringLiveCountryTierIndex from "./0007_covering_live_country_tier_index";
import * as requestIdResponses from "./0008_request_id_responses";
import * as requestIdsCreatedAtIndex from "./0009_request_ids_created_at_index";
import * as pageTokenKeys from "./0010_page_token_keys";

/**
 * Every migration, by name; the Migrator applies them in name order. Listed
 * statically (not read from the folder) so they work the same compiled, under
 * jest, and bundled.
 */
export const migrations: Record<string, Migration> = {
  "0001_extend_customers": extendCustomers,
  "0002_customer_indexes": customerIndexes,
  "0003_customer_tags": customerTags,
  "0004_request_ids": requestIds,
  "0005_invoice_indexes": invoiceIndexes,
  "0006_customer_live_country_tier_index": customerLiveCountryTierIndex,
  "0007_covering_live_country_tier_index": coveringLiveCountryTierIndex,
  "0008_request_id_responses": requestIdResponses,
  "0009_request_ids_created_at_index": requestIdsCreatedAtIndex,
  "0010_page_token_keys": pageTokenKeys,
};
