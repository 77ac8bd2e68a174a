import { Customers, type CustomersOptions } from "../../src/customers/customers";
import { SqliteCustomerStore } from "../../src/customers/stores/sqlite";
import { sqliteTransactions } from "../../src/db/sqlite/transactions";
import type { Executor } from "../../src/db/transactions";

/** The customers domain over a SQLite store on `db` (a database or an open transaction). */
export function sqliteCustomers(db: Executor, options?: CustomersOptions): Customers {
  return new Customers(new SqliteCustomerStore(db, sqliteTransactions()), options);
}
