import { sql, type Kysely } from "kysely";

/**
 * Idempotency keys (AIP-155), as migrations/sqlite/0004, 0008 and 0009 leave
 * them: which resource a create with a request_id made, a hash of the request
 * (a reused id with another request is refused), the first answer as
 * protobuf bytes, and an index to expire them by age. The primary key's name
 * is the one a concurrent retry's unique violation is recognized by
 * (src/db/postgres/errors.ts).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE request_ids (
    operation text NOT NULL,
    request_id text NOT NULL,
    request_hash text NOT NULL,
    resource_id bigint NOT NULL,
    created_at timestamptz NOT NULL,
    response bytea,
    CONSTRAINT request_ids_pk PRIMARY KEY (operation, request_id)
  )`.execute(db);
  await sql`CREATE INDEX request_ids_created_at_idx ON request_ids (created_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("request_ids").execute();
}
