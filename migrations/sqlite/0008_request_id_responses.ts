import { sql, type Kysely } from "kysely";

/**
 * The answer a create with a request_id gave, as protobuf bytes: a retry
 * returns that first result (AIP-155), not the resource as later writes left
 * it. Rows recorded before have none, and a retry of those reads the resource.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE request_ids ADD COLUMN response BLOB`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE request_ids DROP COLUMN response`.execute(db);
}
