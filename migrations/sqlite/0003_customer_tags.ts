import { sql, type Kysely } from "kysely";

/**
 * A JSON array cannot be indexed, so the `tag` filter reads this side table,
 * kept in step with `customers.data` by triggers: whatever writes a profile
 * (the service, a script, a migration), the tags follow.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE customer_tags (
    tag TEXT NOT NULL,
    CustomerId INTEGER NOT NULL REFERENCES customers (CustomerId),
    PRIMARY KEY (tag, CustomerId)
  ) WITHOUT ROWID`.execute(db);
  await sql`CREATE INDEX customer_tags_customer_idx ON customer_tags (CustomerId)`.execute(db);
  await sql`CREATE TRIGGER customers_tags_after_insert AFTER INSERT ON customers
    WHEN NEW.data IS NOT NULL
    BEGIN
      INSERT OR IGNORE INTO customer_tags (tag, CustomerId)
        SELECT value, NEW.CustomerId FROM json_each(NEW.data, '$.tags');
    END`.execute(db);
  await sql`CREATE TRIGGER customers_tags_after_update AFTER UPDATE OF data ON customers
    BEGIN
      DELETE FROM customer_tags WHERE CustomerId = OLD.CustomerId;
      INSERT OR IGNORE INTO customer_tags (tag, CustomerId)
        SELECT value, NEW.CustomerId FROM json_each(NEW.data, '$.tags');
    END`.execute(db);
  await sql`CREATE TRIGGER customers_tags_after_delete AFTER DELETE ON customers
    BEGIN
      DELETE FROM customer_tags WHERE CustomerId = OLD.CustomerId;
    END`.execute(db);
  await sql`INSERT OR IGNORE INTO customer_tags (tag, CustomerId)
    SELECT t.value, c.CustomerId FROM customers c, json_each(c.data, '$.tags') t
    WHERE c.data IS NOT NULL`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const trigger of ["customers_tags_after_delete", "customers_tags_after_update", "customers_tags_after_insert"]) {
    await sql.raw(`DROP TRIGGER ${trigger}`).execute(db);
  }
  await db.schema.dropTable("customer_tags").execute();
}
