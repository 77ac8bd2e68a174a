import type { Kysely } from "kysely";

const INDEX = "request_ids_created_at_idx";

/** Idempotency keys expire by age (maintenance): find the oldest without reading them all. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex(INDEX).on("request_ids").column("created_at").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex(INDEX).execute();
}
