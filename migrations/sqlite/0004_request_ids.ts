import { sql, type Kysely } from "kysely";

/**
 * Idempotency keys (AIP-155): which resource a create with a given request_id
 * made, and a hash of the request so that reusing an id for a different
 * request is refused rather than silently answered with the wrong resource.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("request_ids")
    .addColumn("operation", "text", (c) => c.notNull())
    .addColumn("request_id", "text", (c) => c.notNull())
    .addColumn("request_hash", "text", (c) => c.notNull())
    .addColumn("resource_id", "integer", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("request_ids_pk", ["operation", "request_id"])
    .modifyEnd(sql`WITHOUT ROWID`)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("request_ids").execute();
}

