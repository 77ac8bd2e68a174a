import type { Kysely } from "kysely";

/**
 * The keys page tokens are signed with (HMAC-SHA256), in the database so that
 * every process serving it signs and verifies alike. The service adds a key
 * when none is current (src/db/page-token-keys.ts); ids are the order they
 * were made in.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("page_token_keys")
    .addColumn("id", "integer", (c) => c.primaryKey())
    .addColumn("secret", "blob", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("page_token_keys").execute();
}
