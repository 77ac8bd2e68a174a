import { sql, type Kysely } from "kysely";

const INDEX = "invoices_customer_date_idx";

/**
 * ListInvoices pages a customer's invoices newest first, as
 * migrations/sqlite/0005 indexes them: the keyset (InvoiceDate, InvoiceId)
 * descending walks this index forward.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql.raw(`CREATE INDEX ${INDEX} ON invoices ("CustomerId", "InvoiceDate" DESC, "InvoiceId" DESC)`).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex(INDEX).execute();
}
