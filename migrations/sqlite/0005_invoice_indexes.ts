import type { Kysely } from "kysely";

/** ListInvoices pages a customer's invoices newest first: (CustomerId, InvoiceDate, InvoiceId). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex("invoices_customer_date_idx")
    .on("invoices")
    .columns(["CustomerId", "InvoiceDate"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("invoices_customer_date_idx").execute();
}
