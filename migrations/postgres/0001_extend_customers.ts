import { sql, type Kysely } from "kysely";

/**
 * Adds the lifecycle, profile and audit columns of the extended customers
 * table, as migrations/sqlite/0001 does: `data` is jsonb (always valid JSON),
 * the times timestamptz. Existing rows get one instant, now() (fixed for the
 * transaction); new rows must say when they were made, so no default stays.
 * Times hold whole milliseconds, as the service writes them and as a page
 * token's cursor carries them: a finer time would sort past its own cursor.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE customers
    ADD COLUMN status bigint NOT NULL DEFAULT 1 CONSTRAINT customers_status_check CHECK (status BETWEEN 1 AND 4),
    ADD COLUMN data jsonb,
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())
      CONSTRAINT customers_created_at_ms CHECK (created_at = date_trunc('milliseconds', created_at)),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())
      CONSTRAINT customers_updated_at_ms CHECK (updated_at = date_trunc('milliseconds', updated_at))`.execute(db);
  await sql`ALTER TABLE customers
    ALTER COLUMN created_at DROP DEFAULT,
    ALTER COLUMN updated_at DROP DEFAULT`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE customers
    DROP COLUMN updated_at,
    DROP COLUMN created_at,
    DROP COLUMN data,
    DROP COLUMN status`.execute(db);
}
