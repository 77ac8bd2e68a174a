import { sql, type Kysely } from "kysely";

/** The keys page tokens are signed with, as migrations/sqlite/0010 keeps them. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE page_token_keys (
    id bigint PRIMARY KEY,
    secret bytea NOT NULL,
    created_at timestamptz NOT NULL
  )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("page_token_keys").execute();
}
