import type { Executor, Transactions } from "../../db/transactions";
import { formatCents } from "../money";
import { InvoiceTables } from "./invoice-tables";

/** Invoices in PostgreSQL's Chinook, whose money columns are numeric(10,2): written as exact decimal text ("0.99"). */
export class PostgresInvoiceStore extends InvoiceTables {
  constructor(db: Executor, transactions: Transactions) {
    super(db, transactions, formatCents);
  }
}
