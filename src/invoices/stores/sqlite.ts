import type { Executor, Transactions } from "../../db/transactions";
import { centsToReal } from "../money";
import { InvoiceTables } from "./invoice-tables";

/** Invoices in SQLite's Chinook, whose money columns hold REAL (0.99) or INTEGER (99) values. */
export class SqliteInvoiceStore extends InvoiceTables {
  constructor(db: Executor, transactions: Transactions) {
    super(db, transactions, centsToReal);
  }
}
