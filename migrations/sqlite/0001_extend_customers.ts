import { sql, type Kysely } from "kysely";

/** Placeholder required by SQLite to add a NOT NULL column; every row is backfilled below. */
const EPOCH = "1970-01-01T00:00:00.000Z";

/** Adds the lifecycle, profile and audit columns of the extended customers table. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("customers")
    .addColumn("status", "integer", (c) => c.notNull().defaultTo(1).check(sql`status BETWEEN 1 AND 4`))
    .execute();
  await db.schema
    .alterTable("customers")
    .addColumn("data", "text", (c) => c.check(sql`data IS NULL OR json_valid(data)`))
    .execute();
  await db.schema
    .alterTable("customers")
    .addColumn("created_at", "text", (c) => c.notNull().defaultTo(EPOCH))
    .execute();
  await db.schema
    .alterTable("customers")
    .addColumn("updated_at", "text", (c) => c.notNull().defaultTo(EPOCH))
    .execute();
  // 'now' is fixed for the whole statement, so both columns get the same instant.
  await sql`UPDATE customers
    SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
        updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const column of ["updated_at", "created_at", "data", "status"]) {
    await db.schema.alterTable("customers").dropColumn(column).execute();
  }
}
